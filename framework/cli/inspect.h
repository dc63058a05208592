/*
 * inspect.h - part of the dlpool command (framework/cli/main.c): `dlpool
 * inspect [--json] PLUGIN`, the functions a plugin's manifest lists with
 * their signatures (dlp_plugin_inspect).
 */
#ifndef DLPOOL_CLI_INSPECT_H
#define DLPOOL_CLI_INSPECT_H

/* argv[0] is "inspect".  Returns the command's exit status. */
int inspect_command(int argc, char **argv);

#endif
