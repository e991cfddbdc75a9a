/* proj: map each record's CLAP embedding "emb" to the prefix vectors
 * "prefix" ([P, d_model], shape in prefix_shape) that condition the LLM, or
 * with --aligned to the stage-1 vector "aligned"; --init writes a projection
 * file with random weights. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "cli.h"
#include "dev.h"
#include "proj.h"
#include "rec.h"

static const char usage_text[] =
	"usage: proj -m FILE [options] [FILE...]\n"
	"       proj --init FILE --d-model N [--d-in N] [--prefix-len N] [--variant V] [sizes]\n"
	"Add the prefix vectors (prefix) for the LLM to records that have emb.\n"
	"  -m, --model FILE      projection (.safetensors, or a directory with proj.safetensors)\n"
	"      --llm DIR         check the prefix width against this LLM's config.json\n"
	"      --d-model N       check the prefix width against N\n"
	"      --aligned         write the stage-1 vector aligned instead of prefix\n"
	"  -d, --device DEV      auto, cpu, cuda or cuda:N (default auto)\n"
	"  -b, --batch N         records per batch (default 64)\n"
	"  -j, --threads N       CPU threads (default: all; -t also works)\n"
	"  -z, --gzip            gzip the output\n"
	"  -f, --force           write records even to a terminal\n"
	"  -v, --verbose         device and progress on stderr\n"
	"  -h, --help            this text\n"
	"--init FILE writes random weights; sizes: --d-in (768) --prefix-len (32) --d-model\n"
	"(required) --variant mlp|transformer (mlp) --hidden (1024) --width (512)\n"
	"--layers (2) --heads (8) --ffn (2048) --seed (1)\n";

static int do_init(const char *path, proj_config *c, uint64_t seed)
{
	an_err e = { 0 };

	if (!c->d_model)
		cli_die(CLI_USAGE, "--init needs --d-model (or --llm DIR)");
	if (proj_init_random(c, seed, path, &e) < 0)
		cli_die(CLI_DATA, "%s", e.msg);
	return CLI_OK;
}

int main(int argc, char **argv)
{
	enum { O_LLM = 256, O_DMODEL, O_ALIGNED, O_INIT, O_DIN, O_P, O_VARIANT, O_HIDDEN, O_WIDTH,
	       O_LAYERS, O_HEADS, O_FFN, O_SEED };
	static const struct option longopts[] = {
		{ "model",      required_argument, NULL, 'm' },
		{ "llm",        required_argument, NULL, O_LLM },
		{ "d-model",    required_argument, NULL, O_DMODEL },
		{ "aligned",    no_argument,       NULL, O_ALIGNED },
		{ "init",       required_argument, NULL, O_INIT },
		{ "d-in",       required_argument, NULL, O_DIN },
		{ "prefix-len", required_argument, NULL, O_P },
		{ "variant",    required_argument, NULL, O_VARIANT },
		{ "hidden",     required_argument, NULL, O_HIDDEN },
		{ "width",      required_argument, NULL, O_WIDTH },
		{ "layers",     required_argument, NULL, O_LAYERS },
		{ "heads",      required_argument, NULL, O_HEADS },
		{ "ffn",        required_argument, NULL, O_FFN },
		{ "seed",       required_argument, NULL, O_SEED },
		{ "device",     required_argument, NULL, 'd' },
		{ "batch",      required_argument, NULL, 'b' },
		{ "threads",    required_argument, NULL, 'j' },
		{ "gzip",       no_argument,       NULL, 'z' },
		{ "force",      no_argument,       NULL, 'f' },
		{ "verbose",    no_argument,       NULL, 'v' },
		{ "help",       no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *model = NULL, *llm = NULL, *device = "auto", *init = NULL;
	int c, gz = 0, force = 0, verbose = 0, threads = 0, aligned = 0, batch = 64, d_model = 0;
	uint64_t seed = 1;
	proj_config ic = { .variant = PROJ_MLP, .d_in = 768, .P = 32, .hidden = 1024, .width = 512,
			   .layers = 2, .heads = 8, .ffn = 2048, .ln_eps = 1e-5f };
	an_err e = { 0 };

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "m:d:b:j:t:zfvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case O_LLM: llm = optarg; break;
		case O_DMODEL: d_model = (int)cli_opt_u64("--d-model", optarg, 1, 1 << 24); break;
		case O_ALIGNED: aligned = 1; break;
		case O_INIT: init = optarg; break;
		case O_DIN: ic.d_in = (int)cli_opt_u64("--d-in", optarg, 1, 1 << 24); break;
		case O_P: ic.P = (int)cli_opt_u64("--prefix-len", optarg, 1, 4096); break;
		case O_VARIANT:
			if ((ic.variant = proj_variant_parse(optarg)) < 0)
				cli_die(CLI_USAGE, "--variant: mlp or transformer, not \"%s\"", optarg);
			break;
		case O_HIDDEN: ic.hidden = (int)cli_opt_u64("--hidden", optarg, 1, 1 << 24); break;
		case O_WIDTH: ic.width = (int)cli_opt_u64("--width", optarg, 1, 1 << 24); break;
		case O_LAYERS: ic.layers = (int)cli_opt_u64("--layers", optarg, 0, 256); break;
		case O_HEADS: ic.heads = (int)cli_opt_u64("--heads", optarg, 1, 4096); break;
		case O_FFN: ic.ffn = (int)cli_opt_u64("--ffn", optarg, 1, 1 << 24); break;
		case O_SEED: seed = cli_opt_u64("--seed", optarg, 0, UINT64_MAX); break;
		case 'd': device = optarg; break;
		case 'b': batch = (int)cli_opt_u64("--batch", optarg, 1, 1 << 20); break;
		case 'j':
		case 't': threads = (int)cli_opt_u64("--threads", optarg, 1, 4096); break;
		case 'z': gz = 1; break;
		case 'f': force = 1; break;
		case 'v': verbose = 1; break;
		case 'h': fputs(usage_text, stdout); return CLI_OK;
		default:  fputs(usage_text, stderr); return CLI_USAGE;
		}
	}
	if (llm) {
		int dm;

		if (proj_llm_d_model(llm, &dm, &e) < 0)
			cli_die(CLI_DATA, "--llm: %s", e.msg);
		if (d_model && d_model != dm)
			cli_die(CLI_USAGE, "--d-model %d but %s has hidden_size %d", d_model, llm, dm);
		d_model = dm;
	}
	if (init) {
		if (optind < argc)
			cli_die(CLI_USAGE, "--init takes no input files");
		ic.d_model = d_model;
		return do_init(init, &ic, seed);
	}
	if (!model) {
		fputs(usage_text, stderr);
		cli_die(CLI_USAGE, "no projection: give -m FILE");
	}
	cli_check_stdout(force);
	dev_set_threads(threads);
	an_dev *d = dev_open(device, verbose, &e);
	if (!d)
		cli_die(CLI_DATA, "%s", e.msg);
	proj_model p;
	if (proj_load(&p, model, d, &e) < 0)
		cli_die(CLI_DATA, "%s", e.msg);
	if (d_model && proj_check_d_model(&p, d_model, llm ? llm : "--d-model", &e) < 0)
		cli_die(CLI_DATA, "%s: %s", model, e.msg);
	const proj_config *pc = &p.c;
	if (verbose)
		cli_warn("%s: %s projection %d -> %d x %d on %s", model, proj_variant_name(pc->variant),
			 pc->d_in, pc->P, pc->d_model, d->name);
	if (proj_reserve(&p, batch, &e) < 0)
		cli_die(CLI_DATA, "%s", e.msg);

	rec *recs = calloc((size_t)batch, sizeof *recs);
	int *ok = calloc((size_t)batch, sizeof *ok);
	float *emb = calloc((size_t)batch * pc->d_in, sizeof *emb);
	float *pre = calloc((size_t)batch * pc->P * pc->d_model, sizeof *pre);
	float *al = calloc((size_t)pc->d_model, sizeof *al);
	if (!recs || !ok || !emb || !pre || !al)
		cli_die(CLI_DATA, "out of memory");
	for (int i = 0; i < batch; i++)
		rec_init(&recs[i]);
	rec_writer *w = rec_writer_fd(1, gz ? 6 : 0, &e);
	if (!w)
		cli_die(CLI_DATA, "%s", e.msg);
	cli_progress pg;
	cli_progress_init(&pg, verbose);
	cli_in in;
	cli_in_init(&in, argv + optind, argc - optind);
	uint64_t bad = 0, done = 0;
	int status = CLI_OK, n = 0, rc;
	const uint64_t shape[2] = { (uint64_t)pc->P, (uint64_t)pc->d_model };
	for (;;) {
		rc = cli_in_next(&in, &recs[n], &e);
		if (rc < 0) {
			cli_warn("%s", e.msg);
			status = CLI_DATA;
			continue;
		}
		if (rc == 1) {
			/* pack the good embeddings densely: row k for the k-th good record */
			int k = 0;
			size_t got = 0;
			char where[256];

			for (int i = 0; i < n; i++)
				k += ok[i];
			ok[n] = 0;
			if (rec_copy_f32(&recs[n], F_EMB, emb + (size_t)k * pc->d_in, (size_t)pc->d_in,
					 &got, &e) < 0 ||
			    (got != (size_t)pc->d_in &&
			     (an_err_set(&e, "field \"emb\": %zu floats, the projection takes %d", got,
					 pc->d_in), 1))) {
				cli_warn("%s: %s: %s", recs[n].src ? recs[n].src : "-",
					 rec_where(&recs[n], where, sizeof where), e.msg);
				bad++;
			} else
				ok[n] = 1;
			n++;
		}
		if (n == batch || (rc == 0 && n > 0)) {
			int B = 0;

			for (int i = 0; i < n; i++)
				B += ok[i];
			if (proj_forward(&p, emb, B, pre, &e) < 0)
				cli_die(CLI_DATA, "%s", e.msg);
			for (int i = 0, k = 0; i < n; i++) {
				if (ok[i]) {
					const float *x = pre + (size_t)k++ * pc->P * pc->d_model;

					int sr;

					if (aligned) {
						proj_aligned(al, x, pc->P, pc->d_model);
						sr = rec_set_f32(&recs[i], F_ALIGNED, al, (size_t)pc->d_model);
					} else
						sr = rec_set_f32(&recs[i], F_PREFIX, x,
								 (size_t)pc->P * pc->d_model) < 0 ||
						     rec_set_shape(&recs[i], F_PREFIX, shape, 2) < 0 ? -1 : 0;
					if (sr < 0)
						cli_die(CLI_DATA, "out of memory");
				}
				if (rec_write(w, &recs[i], &e) < 0)
					cli_write_failed(&e);
			}
			done += (uint64_t)B;
			cli_progress_tick(&pg, done, "functions");
			n = 0;
		}
		if (rc == 0)
			break;
	}
	cli_progress_done(&pg, "functions");
	if (rec_writer_close(w, &e) < 0)
		cli_write_failed(&e);
	cli_in_free(&in);
	if (bad) {
		cli_warn("%llu record%s without %s", (unsigned long long)bad, bad == 1 ? "" : "s",
			 aligned ? F_ALIGNED : F_PREFIX);
		status = CLI_DATA;
	}
	for (int i = 0; i < batch; i++)
		rec_free(&recs[i]);
	free(recs);
	free(ok);
	free(emb);
	free(pre);
	free(al);
	proj_free(&p);
	dev_close(d);
	return status;
}
