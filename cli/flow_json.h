/* flow_json.h - private to cli/: flow rows as JSON and text helpers. */
#ifndef EW_CLI_FLOW_JSON_H
#define EW_CLI_FLOW_JSON_H

#include <stdint.h>
#include "store.h"
#include "util.h"

/* Append `f` as one JSON object (no newline).  0, or -1 if `b` is too big. */
int flow_to_json(const struct store_flow *f, struct ew_buf *b);
void flow_tcp_flags_str(uint8_t flags, char out[9]);

#endif
