/* Parses a config file with the library's own parser and prints what it understood, or the error:
 * the C half of the contract conformance test. */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: config_check FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) {
        perror(argv[1]);
        return 2;
    }
    static char text[LW_MAX_CONFIG_BYTES + 1];
    size_t len = fread(text, 1, sizeof(text), f);
    fclose(f);
    lw_config cfg;
    char err[256];
    if (len > LW_MAX_CONFIG_BYTES || lw_config_parse(text, len, &cfg, err, sizeof(err)) != 0) {
        printf("error=%s\n", len > LW_MAX_CONFIG_BYTES ? "too large" : err);
        return 1;
    }
    printf("core_limit=%d\ncore_mode=%s\n", cfg.core_limit, cfg.soft ? "soft" : "hard");
    if (cfg.shared_region[0] != '\0') printf("shared_region=%s\n", cfg.shared_region);
    for (int i = 0; i < LW_MAX_DEVICES; i++) {
        if (!cfg.devices[i].present) continue;
        if (cfg.devices[i].uuid[0] != '\0') printf("device.%d.uuid=%s\n", i, cfg.devices[i].uuid);
        printf("device.%d.memory_limit=%llu\n", i, (unsigned long long)cfg.devices[i].memory_limit);
    }
    return 0;
}
