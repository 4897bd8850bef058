/* `vdb serve`: placeholder until the REST server lands (issue 6). It says
 * what it will do and fails, so nobody mistakes it for a running server. */
#include <stdio.h>

#include "cli.h"

int vdb_cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vdb serve: the REST server is not built yet; it will serve the API of "
                    "docs/api-contract on port 8000.\n");
    return 1;
}
