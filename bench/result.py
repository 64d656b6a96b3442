"""One RESULT line per benchmark figure (DESIGN.md section 6).

    RESULT <bench>.<figure> value=<x> target=<op><y> ok=<yes|no> margin=<+p%>

ok=yes only when the target is met with a 10% margin: a target met by less
is not met (timings vary between machines of the same kind). For ">=" the
value must reach 1.1 x the target; for "<=" 1.1 x the value must stay
within it. margin says by how much the target is met (negative: missed).

From Python: sys.path.insert(0, "bench"); from result import result.
From a shell script: bench/lib.sh's `result NAME VALUE OP TARGET`.
"""
import sys

MARGIN = 1.1


def result(name, value, op, target):
    value, target = float(value), float(target)
    if op == ">=":
        ok = value >= MARGIN * target
        margin = value / target - 1 if target else float("inf")
    elif op == "<=":
        ok = MARGIN * value <= target
        margin = target / value - 1 if value else float("inf")
    else:
        raise ValueError(f"op must be >= or <=, not {op!r}")
    shown = ">+999%" if margin > 9.99 else f"{margin:+.0%}"
    line = (f"RESULT {name} value={value:.4g} target={op}{target:g} "
            f"ok={'yes' if ok else 'no'} margin={shown}")
    print(line, flush=True)
    return ok


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: result.py NAME VALUE OP TARGET")
    result(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
