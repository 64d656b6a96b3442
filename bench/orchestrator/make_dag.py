"""Writes a pipeline of N no-op steps: a chain when width is 1, otherwise
layers of `width` steps, each depending on every step of the layer before."""
import sys

n, width = int(sys.argv[1]), int(sys.argv[2])
print("apiVersion: mlpipe/v1\nkind: Pipeline\nmetadata: {name: bench-dag}\nspec:\n  steps:")
layers = [list(range(i, min(i + width, n))) for i in range(0, n, width)]
for li, layer in enumerate(layers):
    for i in layer:
        after = ", ".join(f"s{j}" for j in layers[li - 1]) if li else ""
        print(f"    - {{name: s{i}, type: noop, value: v{i}{', after: [' + after + ']' if after else ''}}}")
