/*
 * login_field.h -- the login username in a request body, as the
 * application behind nginx reads it.
 *
 * The nginx module hashes it into an event's credential id (the
 * `username` key level). The rule it follows, in one dependency-free file
 * that the module compiles and the unit tests prove:
 *
 *   - a body that starts with '{' is JSON. field "NAME" is the member NAME
 *     of the top-level object -- never one nested deeper, so
 *     {"meta":{"username":"decoy"},"username":"bob"} is bob. A field that
 *     starts with '/' is a JSON pointer (RFC 6901, objects only:
 *     "/credentials/login"). Keys and values are unescaped (\uXXXX
 *     included) before they are compared and hashed, so an escaped key
 *     cannot hide the member. When a name repeats, the last one wins, as
 *     in JSON.parse, Python, Go and Jackson. A string value is taken, and
 *     a number as its text;
 *   - any other body is a form: the field NAME=value (names and values
 *     URL-decoded, '+' is a space), the last one when it repeats (PHP,
 *     Rails, Django).
 *
 * Bounded and linear: one pass per pointer segment over at most len bytes,
 * no recursion, no allocation. A body cut short (the module scans its
 * first bytes) yields what was found before the cut.
 */
#ifndef RP_LOGIN_FIELD_H
#define RP_LOGIN_FIELD_H

#include <stddef.h>

/* Write the value of field (field_len bytes) found in body into out, cut
 * at out_size bytes; return its length, 0 when there is none. */
size_t rp_login_field(const unsigned char *body, size_t len, const char *field, size_t field_len,
                      unsigned char *out, size_t out_size);

#endif
