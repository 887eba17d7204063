/* packstats.h - wcodec-pack --stats: per dtype and tensor class, the
 * order-0 bound of the source, the size achieved and the codecs chosen. */
#ifndef WC_PACKSTATS_H
#define WC_PACKSTATS_H

#include <stdio.h>

typedef struct packstats packstats;

packstats *packstats_new(void);
void packstats_free(packstats *s);

/* Add the tensors of the .safetensors file src, packed into the container
 * dst. Thread-safe. @return 0 or a negative error (detail set). */
int packstats_add(packstats *s, const char *src, const char *dst);

/* The class a tensor name and rank fall in: "embedding", "attention",
 * "mlp", "conv", "recurrent", "head", "vector" (rank 0 or 1: norms,
 * biases) or "other". */
const char *packstats_class(const char *name, unsigned ndim);

/* Print the table: one line per (dtype, class), then per dtype. */
void packstats_print(const packstats *s, FILE *f);

#endif
