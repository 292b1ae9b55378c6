// The PostgreSQL server headers, included once for C++ translation units.
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "utils/builtins.h"
}

// PostgreSQL's port.h replaces these with its own; C++ code uses the std:: ones.
#undef snprintf
#undef vsnprintf
#undef sprintf
#undef printf
#undef fprintf
#undef vfprintf
