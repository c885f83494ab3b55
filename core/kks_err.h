/* Project error codes: 0 or a negative code from this one table (libuv style).
 * kks_strerror() gives the message. Functions say in their header which codes
 * they may return. */
#ifndef KKS_ERR_H
#define KKS_ERR_H

#define KKS_ERRNO_MAP(X)                                                                           \
    X(NOMEM, -1, "out of memory")                                                                  \
    X(INVAL, -2, "invalid argument")                                                               \
    X(IO, -3, "input/output error")                                                                \
    X(TOOBIG, -4, "frame longer than the cap")                                                     \
    X(EMPTYFRAME, -5, "empty frame")                                                               \
    X(TRUNCATED, -6, "truncated frame")                                                            \
    X(PROTO, -7, "malformed message")                                                              \
    X(TLS, -8, "TLS failure")                                                                      \
    X(PEERROLE, -9, "peer certificate has a role not accepted here")                               \
    X(NOCERT, -10, "peer presented no certificate")                                                \
    X(TIMEDOUT, -11, "timed out")                                                                  \
    X(CLOSED, -12, "connection closed")                                                            \
    X(NOTCONN, -13, "not connected")                                                               \
    X(ADDR, -14, "bad address, expected HOST:PORT")                                                \
    X(PKI, -15, "PKI file missing or unreadable")                                                  \
    X(EXISTS, -16, "already exists")                                                               \
    X(DB, -17, "database error")                                                                   \
    X(CONNREFUSED, -18, "connection refused")                                                      \
    X(SHUTDOWN, -19, "shutting down")                                                              \
    X(UNEXPECTED, -20, "unexpected message")                                                       \
    X(LISTEN, -21, "cannot listen on the address")                                                 \
    X(OUTPUT, -22, "program output longer than the cap")

enum kks_errno {
    KKS_OK = 0,
#define KKS__ERR_ENUM(name, code, msg) KKS_E##name = (code),
    KKS_ERRNO_MAP(KKS__ERR_ENUM)
#undef KKS__ERR_ENUM
};

/* The message for a code; never NULL ("unknown error" for codes not in the table). */
const char *kks_strerror(int code);
/* The symbolic name ("KKS_ETOOBIG"); never NULL. */
const char *kks_errname(int code);

#endif
