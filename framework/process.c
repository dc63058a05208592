/* framework/process.c */
#include "config.h"
#include "common.h"
