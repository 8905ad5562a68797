/*
 * ui.h -- the dashboard's static files, embedded into the rampart binary
 * at build time (tools/embed-ui.sh turns web/dist/ into a C file), so
 * that the daemon serves /ui/ with no files to install and no CDN.
 */
#ifndef RP_UI_H
#define RP_UI_H

#include <stddef.h>

typedef struct rp_ui_asset {
    const char *path; /* "/index.html" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
} rp_ui_asset;

extern const rp_ui_asset rp_ui_assets[];
extern const size_t rp_ui_asset_count;

#endif
