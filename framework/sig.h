/*
 * sig.h - the signature language: "RET(ARG,...)".
 * The parser and formatter are public (dlp_sig_parse, dlp_sig_format);
 * this header adds what other modules need.
 */
#ifndef DLPOOL_FRAMEWORK_SIG_H
#define DLPOOL_FRAMEWORK_SIG_H

#include "common.h"

/* The fixed wire size of a scalar type, 0 for str/bytes/void. */
DLP_PRIV size_t dlp__type_size(dlp_type t);

/* True for the integer types (i8..u64). */
DLP_PRIV int dlp__type_is_int(dlp_type t);
/* True for the numeric types (i8..u64, f32, f64): those with arrays. */
DLP_PRIV int dlp__type_is_num(dlp_type t);
DLP_PRIV int dlp__type_is_signed(dlp_type t);

/* The range of an integer type. */
DLP_PRIV void dlp__type_range(dlp_type t, int64_t *min, uint64_t *max);

/* Two signatures are the same. */
DLP_PRIV int dlp__sig_equal(const dlp_sig *a, const dlp_sig *b);

#endif
