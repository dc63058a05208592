#include <dlpool/plugin.h>
static int32_t noop(dlp_chan *c) { (void)c; return 0; }
DLP_PLUGIN("procplug", DLP_FN(noop, "i32(chan)"));
