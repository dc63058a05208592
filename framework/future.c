/* framework/future.c */
#include "config.h"
#include "common.h"
