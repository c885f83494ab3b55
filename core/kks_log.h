/* Structured logs: one JSON object per line on stderr with ts, level, component,
 * msg and string fields; always valid JSON (escaped, UTF-8 checked, a line over
 * 4 KiB cut short but closed). Never pass a PIN or PIN block; mask PANs first. */
#ifndef KKS_LOG_H
#define KKS_LOG_H

#include <stddef.h>

enum kks_log_level { KKS_LOG_DEBUG, KKS_LOG_INFO, KKS_LOG_WARN, KKS_LOG_ERROR };

/* Sets the component name written on every line (kept by pointer). */
void kks_log_init(const char *component);
void kks_log_set_level(enum kks_log_level min);

/* Holding (on 1): this thread's debug and info lines are kept in a buffer
 * and written together by kks_log_flush, one write for many lines (a daemon
 * flushes once an event loop iteration: a line an authorisation was a system
 * call each). A warning or an error is written at once, after the lines held
 * before it; a full buffer (64 KiB) is written too; so is what is held at
 * exit. A crash loses at most the lines of the iteration it ended. on 0
 * writes what is held and stops holding. */
void kks_log_hold(int on);
void kks_log_flush(void);

/* Logs msg with key/value string pairs, terminated by a NULL key.
 * A NULL value is written as JSON null. */
void kks_log(enum kks_log_level level, const char *msg, ...) __attribute__((sentinel));

#define kks_info(...) kks_log(KKS_LOG_INFO, __VA_ARGS__, (char *)0)
#define kks_warn(...) kks_log(KKS_LOG_WARN, __VA_ARGS__, (char *)0)
#define kks_error(...) kks_log(KKS_LOG_ERROR, __VA_ARGS__, (char *)0)
#define kks_debug(...) kks_log(KKS_LOG_DEBUG, __VA_ARGS__, (char *)0)

/* The current UTC time as YYYY-MM-DDTHH:MM:SSZ (storage is UTC; people read WIB). */
void kks_utc_now(char out[21]);

#endif
