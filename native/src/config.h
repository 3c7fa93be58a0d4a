/* The per-container config file, parsed by exactly the rules of contracts/vgpu-config.ts. */
#ifndef LOADWISE_CONFIG_H
#define LOADWISE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define LW_MAX_DEVICES 16
#define LW_MAX_LINE 255
#define LW_MAX_CONFIG_BYTES 65536
#define LW_CONFIG_FILE "vgpu.config"
#define LW_REGION_FILE "vgpu.shm"
/* The directory the device plugin mounts: fixed at build time (make CONFIG_DIR=...), never taken
 * from the container's environment while it exists. */
#ifndef LW_DEFAULT_CONFIG_DIR
#define LW_DEFAULT_CONFIG_DIR "/etc/loadwise/vgpu"
#endif
#define LW_CONFIG_DIR_ENV "LOADWISE_VGPU_CONFIG_DIR"
#define LW_CORE_LIMIT_ENV "LOADWISE_VGPU_CORE_LIMIT"
#define LW_MEMORY_LIMIT_ENV_PREFIX "LOADWISE_VGPU_MEMORY_LIMIT_"
#define LW_SAMPLE_MS_ENV "LOADWISE_VGPU_SAMPLE_MS"

typedef struct {
    int present;
    char uuid[97];
    uint64_t memory_limit;
} lw_device_config;

typedef struct {
    int core_limit; /* percent, 1..100 */
    int soft;       /* 1: core_mode=soft */
    char shared_region[256];
    lw_device_config devices[LW_MAX_DEVICES];
} lw_config;

/* Parses `len` bytes. Returns 0, or -1 with a message in `err` (which names the line). */
int lw_config_parse(const char *text, size_t len, lw_config *out, char *err, size_t errlen);

/* Parses a plain decimal of at most 16 digits, no sign or leading zero, at most 2^53-1. */
int lw_parse_decimal(const char *text, size_t len, uint64_t *out);

#endif
