/* libFuzzer's once-per-process hook for the harnesses (replay.c plays this
 * part in plain builds). */
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_tmpdir();
    fuzz_init();
    return 0;
}
