// C++ strings as PostgreSQL text values.
#pragma once

#include "pg/guard.h"

#include <string_view>

namespace sms_otp::pg {

// A text Datum holding s, palloc'd in the current memory context. Inside pg_call only: palloc
// may ereport.
inline Datum text_datum(std::string_view s) {
    return PointerGetDatum(cstring_to_text_with_len(s.data(), static_cast<int>(s.size())));
}

// The same from C++ code: a function's text result.
inline Datum text_result(std::string_view s) { return pg_call([&] { return text_datum(s); }); }

}  // namespace sms_otp::pg
