#include "fields.h"

#include <string.h>

static const struct { const char *key; enum rec_dtype dt; } typed[] = {
	{ F_ASM_ADDR, REC_DT_U64 },
	{ F_TOK,      REC_DT_I32 },
	{ F_TTYPE,    REC_DT_I32 },
	{ F_EMB,      REC_DT_F32 },
	{ F_PREFIX,   REC_DT_F32 },
	{ F_ALIGNED,  REC_DT_F32 },
	{ F_SRC_EMB,  REC_DT_F32 },
	{ F_LLM_TOK,  REC_DT_I32 },
};

enum rec_dtype rec_field_dtype(const char *key, size_t klen)
{
	for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++)
		if (strlen(typed[i].key) == klen && !memcmp(typed[i].key, key, klen))
			return typed[i].dt;
	return REC_DT_NONE;
}

size_t rec_dtype_size(enum rec_dtype dt)
{
	switch (dt) {
	case REC_DT_F32: return 4;
	case REC_DT_I32: return 4;
	case REC_DT_U64: return 8;
	default:         return 0;
	}
}
