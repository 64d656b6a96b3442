#include "common/config/pipeline_config.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/util/ids.h"
#include "common/util/strings.h"
#include "yaml-cpp/yaml.h"

namespace mlpipe::config {
namespace {

// The line of every key and list item below `node`, by path ("a.b",
// "a[0].c"), so errors about nested parameters point at their own line.
void NestedLines(const YAML::Node& node, const std::string& path,
                 google::protobuf::Map<std::string, int32_t>* lines) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) continue;
      std::string sub = StrCat(path, ".", kv.first.Scalar());
      (*lines)[sub] = kv.first.Mark().line + 1;
      NestedLines(kv.second, sub, lines);
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      std::string sub = StrCat(path, "[", i, "]");
      (*lines)[sub] = node[i].Mark().line + 1;
      NestedLines(node[i], sub, lines);
    }
  }
}

using google::protobuf::Value;

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  absl::Status Error(const YAML::Node& node, std::string_view field,
                     std::string_view reason) const {
    int line = node.IsDefined() ? node.Mark().line + 1 : 0;
    return absl::InvalidArgumentError(
        StrCat(file_, ":", line, ": ", field, ": ", reason));
  }

  absl::StatusOr<std::string> Scalar(const YAML::Node& node,
                                     std::string_view field) const {
    if (!node.IsScalar()) return Error(node, field, "expected a string");
    return node.Scalar();
  }

  // A YAML value as a protobuf Value: quoted scalars are strings; plain ones
  // are null, booleans, numbers or strings, as YAML 1.2 reads them.
  absl::StatusOr<Value> ToValue(const YAML::Node& node,
                                std::string_view field) const {
    Value v;
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        v.set_null_value({});
        return v;
      case YAML::NodeType::Scalar: {
        const std::string& s = node.Scalar();
        if (node.Tag() == "!") {
          v.set_string_value(s);
        } else if (s == "~" || s == "null" || s == "Null" || s == "NULL") {
          v.set_null_value({});
        } else if (s == "true" || s == "True" || s == "TRUE") {
          v.set_bool_value(true);
        } else if (s == "false" || s == "False" || s == "FALSE") {
          v.set_bool_value(false);
        } else {
          char* end = nullptr;
          double d = std::strtod(s.c_str(), &end);
          bool numeric = !s.empty() && end == s.c_str() + s.size() &&
                         s.find_first_of("xXnN") == std::string::npos;
          if (numeric) {
            v.set_number_value(d);
          } else {
            v.set_string_value(s);
          }
        }
        return v;
      }
      case YAML::NodeType::Sequence: {
        auto* list = v.mutable_list_value();
        int i = 0;
        for (const auto& item : node) {
          auto x = ToValue(item, StrCat(field, "[", i++, "]"));
          if (!x.ok()) return x.status();
          *list->add_values() = std::move(*x);
        }
        return v;
      }
      case YAML::NodeType::Map: {
        auto* st = v.mutable_struct_value();
        for (const auto& kv : node) {
          std::string key = kv.first.Scalar();
          auto x = ToValue(kv.second, StrCat(field, ".", key));
          if (!x.ok()) return x.status();
          (*st->mutable_fields())[key] = std::move(*x);
        }
        return v;
      }
    }
    return Error(node, field, "unsupported YAML node");
  }

  absl::StatusOr<std::vector<std::string>> StringList(
      const YAML::Node& node, std::string_view field) const {
    std::vector<std::string> out;
    if (node.IsScalar()) {
      out.push_back(node.Scalar());
      return out;
    }
    if (!node.IsSequence())
      return Error(node, field, "expected a list of names");
    for (const auto& item : node) {
      if (!item.IsScalar()) return Error(item, field, "expected a name");
      out.push_back(item.Scalar());
    }
    return out;
  }

  absl::Status Retry(const YAML::Node& node, std::string_view field,
                     v1::RetryPolicy* out) const {
    if (node.IsScalar()) {  // "retry: 3" means three retries.
      auto v = ToValue(node, field);
      if (!v.ok() || v->kind_case() != Value::kNumberValue ||
          v->number_value() < 0) {
        return Error(node, field, "expected a number of retries or a map");
      }
      out->set_limit(static_cast<int32_t>(v->number_value()));
      return absl::OkStatus();
    }
    if (!node.IsMap()) return Error(node, field, "expected a map");
    for (const auto& kv : node) {
      std::string key = kv.first.Scalar();
      std::string f = StrCat(field, ".", key);
      const YAML::Node& val = kv.second;
      if (key == "limit" || key == "initial_backoff" || key == "max_backoff" ||
          key == "multiplier") {
        double d;
        if (key == "limit" || key == "multiplier") {
          auto v = ToValue(val, f);
          if (!v.ok() || v->kind_case() != Value::kNumberValue ||
              v->number_value() < 0) {
            return Error(val, f, "expected a non-negative number");
          }
          d = v->number_value();
        } else {
          auto s = ParseDurationSeconds(val.IsScalar() ? val.Scalar() : "");
          if (!s.ok()) return Error(val, f, std::string(s.status().message()));
          d = *s;
        }
        if (key == "limit") out->set_limit(static_cast<int32_t>(d));
        if (key == "initial_backoff") out->set_initial_backoff_seconds(d);
        if (key == "max_backoff") out->set_max_backoff_seconds(d);
        if (key == "multiplier") out->set_multiplier(d);
      } else if (key == "on") {
        auto codes = StringList(val, f);
        if (!codes.ok()) return codes.status();
        for (auto& c : *codes) out->add_retry_on(c);
      } else {
        return Error(kv.first, f,
                     "unknown field (known: limit, initial_backoff, "
                     "max_backoff, multiplier, on)");
      }
    }
    return absl::OkStatus();
  }

  absl::Status Step(const YAML::Node& node, std::string_view field,
                    v1::StepSpec* out) const {
    if (!node.IsMap()) return Error(node, field, "expected a map");
    out->set_line(node.Mark().line + 1);
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) return Error(kv.first, field, "bad key");
      std::string key = kv.first.Scalar();
      std::string f = StrCat(field, ".", key);
      const YAML::Node& val = kv.second;
      if (key == "name" || key == "type" || key == "when") {
        auto s = Scalar(val, f);
        if (!s.ok()) return s.status();
        if (key == "name") out->set_name(*s);
        if (key == "type") out->set_type(*s);
        if (key == "when") out->set_when(*s);
      } else if (key == "after") {
        auto names = StringList(val, f);
        if (!names.ok()) return names.status();
        for (auto& n : *names) out->add_after(n);
      } else if (key == "retry") {
        if (auto s = Retry(val, f, out->mutable_retry()); !s.ok()) return s;
      } else if (key == "timeout") {
        auto d = ParseDurationSeconds(val.IsScalar() ? val.Scalar() : "");
        if (!d.ok()) return Error(val, f, std::string(d.status().message()));
        out->set_timeout_seconds(*d);
      } else if (key == "cache") {
        auto v = ToValue(val, f);
        if (!v.ok() || v->kind_case() != Value::kBoolValue) {
          return Error(val, f, "expected true or false");
        }
        out->set_cache(v->bool_value());
      } else {
        auto v = ToValue(val, f);
        if (!v.ok()) return v.status();
        (*out->mutable_params()->mutable_fields())[key] = std::move(*v);
        (*out->mutable_param_lines())[key] = kv.first.Mark().line + 1;
        NestedLines(val, key, out->mutable_param_lines());
      }
    }
    if (out->name().empty())
      return Error(node, StrCat(field, ".name"), "required");
    if (!IsValidName(out->name())) {
      return Error(node, StrCat(field, ".name"),
                   StrCat("'", out->name(), "' is not a valid name"));
    }
    if (out->type().empty())
      return Error(node, StrCat(field, ".type"), "required");
    return absl::OkStatus();
  }

  absl::Status Trigger(const YAML::Node& node, std::string_view field,
                       v1::TriggerSpec* out) const {
    if (!node.IsMap()) return Error(node, field, "expected a map");
    out->set_line(node.Mark().line + 1);
    for (const auto& kv : node) {
      std::string key = kv.first.Scalar();
      std::string f = StrCat(field, ".", key);
      const YAML::Node& val = kv.second;
      if (key == "schedule") {
        auto s = Scalar(val, f);
        if (!s.ok()) return s.status();
        out->set_schedule(*s);
      } else if (key == "timezone") {
        auto s = Scalar(val, f);
        if (!s.ok()) return s.status();
        out->set_timezone(*s);
      } else if (key == "event") {
        auto* e = out->mutable_event();
        if (val.IsScalar()) {
          e->set_topic(val.Scalar());
        } else if (val.IsMap()) {
          for (const auto& ekv : val) {
            std::string ek = ekv.first.Scalar();
            if (ek == "topic")
              e->set_topic(ekv.second.Scalar());
            else if (ek == "source")
              e->set_source(ekv.second.Scalar());
            else if (ek == "filter" && ekv.second.IsMap()) {
              for (const auto& fkv : ekv.second) {
                (*e->mutable_filter())[fkv.first.Scalar()] =
                    fkv.second.Scalar();
              }
            } else {
              return Error(ekv.first, StrCat(f, ".", ek),
                           "unknown field (known: topic, source, filter)");
            }
          }
        } else {
          return Error(val, f, "expected a topic or a map");
        }
        if (e->topic().empty())
          return Error(val, StrCat(f, ".topic"), "required");
      } else {
        return Error(kv.first, f,
                     "unknown field (known: schedule, event, timezone)");
      }
    }
    if (out->kind_case() == v1::TriggerSpec::KIND_NOT_SET) {
      return Error(node, field, "needs 'schedule' or 'event'");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<v1::PipelineSpec> Parse(const YAML::Node& root) const {
    v1::PipelineSpec spec;
    spec.set_source_file(file_);
    if (!root.IsMap()) return Error(root, "(top)", "expected a map");
    for (const auto& kv : root) {
      std::string key = kv.first.Scalar();
      const YAML::Node& val = kv.second;
      if (key == "apiVersion") {
        auto s = Scalar(val, key);
        if (!s.ok()) return s.status();
        if (*s != "mlpipe/v1") {
          return Error(val, key,
                       StrCat("'", *s, "' is not supported (use mlpipe/v1)"));
        }
        spec.set_api_version(*s);
      } else if (key == "kind") {
        auto s = Scalar(val, key);
        if (!s.ok()) return s.status();
        if (*s != "Pipeline") return Error(val, key, "must be Pipeline");
        spec.set_kind(*s);
      } else if (key == "metadata") {
        if (!val.IsMap()) return Error(val, key, "expected a map");
        for (const auto& m : val) {
          std::string mk = m.first.Scalar();
          if (mk == "name") {
            auto s = Scalar(m.second, "metadata.name");
            if (!s.ok()) return s.status();
            spec.mutable_metadata()->set_name(*s);
          } else if (mk == "labels" && m.second.IsMap()) {
            for (const auto& l : m.second) {
              (*spec.mutable_metadata()->mutable_labels())[l.first.Scalar()] =
                  l.second.Scalar();
            }
          } else {
            return Error(m.first, StrCat("metadata.", mk),
                         "unknown field (known: name, labels)");
          }
        }
      } else if (key == "spec") {
        if (auto s = Spec(val, &spec); !s.ok()) return s;
      } else {
        return Error(kv.first, key,
                     "unknown field (known: apiVersion, kind, metadata, spec)");
      }
    }
    if (spec.api_version().empty())
      return Error(root, "apiVersion", "required");
    if (spec.kind().empty()) return Error(root, "kind", "required");
    if (!IsValidName(spec.metadata().name())) {
      return Error(root["metadata"], "metadata.name",
                   "required: a name of A-Z a-z 0-9 _ . -");
    }
    if (spec.steps_size() == 0)
      return Error(root["spec"], "spec.steps", "no steps");
    return spec;
  }

  absl::Status Spec(const YAML::Node& node, v1::PipelineSpec* spec) const {
    if (!node.IsMap()) return Error(node, "spec", "expected a map");
    for (const auto& kv : node) {
      std::string key = kv.first.Scalar();
      std::string f = StrCat("spec.", key);
      const YAML::Node& val = kv.second;
      (*spec->mutable_field_lines())[key] = kv.first.Mark().line + 1;
      if (key == "dataset" || key == "label" || key == "positive_class") {
        auto s = Scalar(val, f);
        if (!s.ok()) return s.status();
        if (key == "dataset") spec->set_dataset(*s);
        if (key == "label") spec->set_label(*s);
        if (key == "positive_class") spec->set_positive_class(*s);
      } else if (key == "steps" || key == "on_exit") {
        if (!val.IsSequence()) return Error(val, f, "expected a list of steps");
        int i = 0;
        for (const auto& s : val) {
          auto* step = key == "steps" ? spec->add_steps() : spec->add_on_exit();
          if (auto st = Step(s, StrCat(f, "[", i++, "]"), step); !st.ok())
            return st;
        }
      } else if (key == "triggers") {
        if (!val.IsSequence())
          return Error(val, f, "expected a list of triggers");
        int i = 0;
        for (const auto& t : val) {
          if (auto st =
                  Trigger(t, StrCat(f, "[", i++, "]"), spec->add_triggers());
              !st.ok()) {
            return st;
          }
        }
      } else {
        return Error(kv.first, f,
                     "unknown field (known: dataset, label, positive_class, "
                     "steps, on_exit, triggers)");
      }
    }
    return absl::OkStatus();
  }

 private:
  std::string file_;
};

}  // namespace

absl::StatusOr<v1::PipelineSpec> ParsePipeline(std::string_view yaml,
                                               std::string_view file) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        StrCat(file, ":", e.mark.line + 1, ": invalid YAML: ", e.msg));
  }
  try {
    auto spec = Parser(std::string(file)).Parse(root);
    if (!spec.ok()) return spec;
    if (auto s = ValidateDag(*spec); !s.ok()) return s;
    return spec;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        StrCat(file, ":", e.mark.line + 1, ": ", e.msg));
  }
}

absl::StatusOr<google::protobuf::Value> ParseYamlValue(std::string_view yaml,
                                                       std::string_view file) {
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    return Parser(std::string(file)).ToValue(root, "(top)");
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        StrCat(file, ":", e.mark.line + 1, ": invalid YAML: ", e.msg));
  }
}

absl::StatusOr<v1::PipelineSpec> LoadPipelineFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParsePipeline(ss.str(), path);
}

std::string Where(const v1::PipelineSpec& spec, int line) {
  return StrCat(spec.source_file().empty() ? "pipeline" : spec.source_file(),
                ":", line);
}

absl::Status ValidateDag(const v1::PipelineSpec& spec) {
  std::map<std::string, const v1::StepSpec*> steps;
  auto all = [&](auto fn) -> absl::Status {
    for (const auto& s : spec.steps()) {
      if (auto st = fn(s, false); !st.ok()) return st;
    }
    for (const auto& s : spec.on_exit()) {
      if (auto st = fn(s, true); !st.ok()) return st;
    }
    return absl::OkStatus();
  };
  auto s = all([&](const v1::StepSpec& step, bool) -> absl::Status {
    auto [it, added] = steps.emplace(step.name(), &step);
    if (!added) {
      return absl::InvalidArgumentError(
          StrCat(Where(spec, step.line()), ": steps: duplicate step name '",
                 step.name(), "' (first at line ", it->second->line(), ")"));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  s = all([&](const v1::StepSpec& step, bool on_exit) -> absl::Status {
    for (const auto& a : step.after()) {
      auto it = steps.find(a);
      if (it == steps.end()) {
        return absl::InvalidArgumentError(
            StrCat(Where(spec, step.line()), ": steps.", step.name(),
                   ".after: no step named '", a, "'"));
      }
      if (a == step.name()) {
        return absl::InvalidArgumentError(
            StrCat(Where(spec, step.line()), ": steps.", step.name(),
                   ".after: a step cannot depend on itself"));
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  // Depth-first search; a back edge closes a cycle, printed from its start.
  std::map<std::string, int> color;  // 0 new, 1 on stack, 2 done
  std::vector<std::string> stack;
  std::string cycle;
  std::function<bool(const std::string&)> visit = [&](const std::string& n) {
    color[n] = 1;
    stack.push_back(n);
    for (const auto& a : steps[n]->after()) {
      if (color[a] == 1) {
        auto start = std::find(stack.begin(), stack.end(), a);
        for (auto it = start; it != stack.end(); ++it) cycle += *it + " -> ";
        cycle += a;
        return true;
      }
      if (color[a] == 0 && visit(a)) return true;
    }
    stack.pop_back();
    color[n] = 2;
    return false;
  };
  for (const auto& [name, step] : steps) {
    if (color[name] == 0 && visit(name)) {
      return absl::InvalidArgumentError(
          StrCat(Where(spec, steps[stack.front()]->line()),
                 ": steps: dependency cycle: ", cycle,
                 " (each step waits for the next via 'after')"));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> TopologicalOrder(const v1::PipelineSpec& spec) {
  std::vector<const v1::StepSpec*> all;
  for (const auto& s : spec.steps()) all.push_back(&s);
  for (const auto& s : spec.on_exit()) all.push_back(&s);
  std::set<std::string> done;
  std::vector<std::string> order;
  while (order.size() < all.size()) {
    for (const auto* s : all) {
      if (done.contains(s->name())) continue;
      bool ready =
          std::all_of(s->after().begin(), s->after().end(),
                      [&](const std::string& a) { return done.contains(a); });
      if (ready) {
        done.insert(s->name());
        order.push_back(s->name());
      }
    }
  }
  return order;
}

absl::StatusOr<double> ParseDurationSeconds(std::string_view text) {
  std::string s(text);
  if (s.empty())
    return absl::InvalidArgumentError("expected a duration like 30s, 5m, 1h");
  double scale = 1;
  std::string num = s;
  if (s.ends_with("ms")) {
    scale = 0.001;
    num = s.substr(0, s.size() - 2);
  } else if (s.ends_with("s")) {
    num = s.substr(0, s.size() - 1);
  } else if (s.ends_with("m")) {
    scale = 60;
    num = s.substr(0, s.size() - 1);
  } else if (s.ends_with("h")) {
    scale = 3600;
    num = s.substr(0, s.size() - 1);
  }
  char* end = nullptr;
  double v = std::strtod(num.c_str(), &end);
  if (num.empty() || end != num.c_str() + num.size() || v < 0) {
    return absl::InvalidArgumentError(
        StrCat("'", s, "' is not a duration (like 30s, 5m, 1h, 250ms)"));
  }
  return v * scale;
}

}  // namespace mlpipe::config
