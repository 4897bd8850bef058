/* Plain-C driver for the fuzz harnesses, built with the normal compiler
 * (no libFuzzer needed): `replay FILE|DIR...` runs every input through
 * LLVMFuzzerTestOneInput once (make test replays tests/fuzz/regress/ this
 * way, so every crash ever found stays fixed in gcc-only builds too);
 * `replay --seeds DIR` writes the harness's generated seed corpus. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"

static size_t ran;

/* Runs one input placed so that it ends exactly at a page boundary with an
 * inaccessible page after it: a parser reading even one byte past the
 * input crashes here too, without a sanitizer. */
static void run_file(const char *path)
{
    size_t len = 0;
    unsigned char *buf = fuzz_read_file(path, &len);
    if (buf == NULL) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        exit(2);
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t span = (len + page - 1) / page * page;
    unsigned char *map = mmap(NULL, span + page, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED || mprotect(map + span, page, PROT_NONE) != 0) {
        perror("replay: mmap");
        exit(2);
    }
    unsigned char *input = map + span - len;
    memcpy(input, buf, len);
    free(buf);
    fprintf(stderr, "replay: %s\n", path);
    LLVMFuzzerTestOneInput(input, len);
    munmap(map, span + page);
    ran++;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: no such input %s\n", path);
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(path);
        return;
    }
    DIR *d = opendir(path);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, (n + 1) * sizeof(*names));
        size_t need = strlen(path) + strlen(e->d_name) + 2;
        names[n] = malloc(need);
        snprintf(names[n], need, "%s/%s", path, e->d_name);
        n++;
    }
    if (d != NULL)
        closedir(d);
    qsort(names, n, sizeof(*names), by_name);
    for (size_t i = 0; i < n; i++) {
        run_path(names[i]);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    fuzz_tmpdir();
    if (argc == 3 && strcmp(argv[1], "--seeds") == 0) {
        mkdir(argv[2], 0700);
        fuzz_seeds(argv[2]);
        return 0;
    }
    fuzz_init();
    for (int i = 1; i < argc; i++)
        run_path(argv[i]);
    printf("replay %s: %zu inputs (%zu accepted), no crash\n", argv[0], ran, fuzz_accepted);
    return 0;
}
