// Small pieces for the self-contained HTML reports (evaluation, monitoring).
#ifndef MLPIPE_COMMON_UTIL_HTML_H_
#define MLPIPE_COMMON_UTIL_HTML_H_

#include <string>

namespace mlpipe {

// &, <, >, " escaped.
std::string HtmlEscape(const std::string& s);
// `digits` significant digits (printf %g); NaN as an en dash.
std::string HtmlNumber(double v, int digits = 4);

}  // namespace mlpipe

#endif  // MLPIPE_COMMON_UTIL_HTML_H_
