#!/usr/bin/env python3
"""Golden token ids for common/bpe.c, made by HuggingFace `tokenizers`.

    python3 tests/gen/gen_bpe.py [SHARED_DIR]      (default ../shared)

Writes tests/golden/bpe/:
  llama.tsv   Llama-3.2 tokenizer.json from SHARED/vendor/llama-3.2-3b-instruct
  qwen.tsv    Qwen2.5, built the way transformers' Qwen2TokenizerFast is from
              SHARED/vendor/qwen2.5-coder-3b/{vocab.json,merges.txt}: NFC, the
              Qwen2 Split regex (Isolated) + ByteLevel(use_regex=False), the
              ByteLevel decoder, and the 22 Qwen2.5 added tokens 151643..151664
              (special ones special=True; all normalized=False, as the
              published tokenizer.json has them)
  tiny.json, tiny_legacy.json, tiny.tsv
              a small byte-level BPE trained here on a fixed text, with
              ByteLevel(add_prefix_space=True, use_regex=True), an NFKC
              normalizer, a TemplateProcessing post-processor and added tokens
              with lstrip/rstrip/single_word/normalized flags; tiny.json has
              [a, b] merges, tiny_legacy.json the same with "a b" merges.
  tiny_split.json, tiny_split.tsv
              the same model behind NFD + Lowercase and Split pre-tokenizers
              with every other behavior (MergedWithPrevious on a String
              pattern, MergedWithNext, Contiguous with invert, Removed), then
              ByteLevel(use_regex=False).

A .tsv line is one case, tab-separated:
  name  flags  text(hex)  ids(comma-separated)  decode(hex)  decode_skip(hex)
flags: a = add_special_tokens, s = split special tokens (HF's
encode_special_tokens=True), - = neither.  decode is tok.decode(ids,
skip_special_tokens=False), decode_skip the same with True (both UTF-8,
invalid bytes replaced by U+FFFD, as HF returns them).
"""
import json
import os
import random
import sys

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared")
OUT = os.path.join(ROOT, "tests", "golden", "bpe")

QWEN_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
              r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN_ADDED = [
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
    ("<|object_ref_start|>", True), ("<|object_ref_end|>", True), ("<|box_start|>", True),
    ("<|box_end|>", True), ("<|quad_start|>", True), ("<|quad_end|>", True),
    ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
    ("<|image_pad|>", True), ("<|video_pad|>", True), ("<tool_call>", False),
    ("</tool_call>", False), ("<|fim_prefix|>", False), ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False), ("<|fim_pad|>", False), ("<|repo_name|>", False),
    ("<|file_sep|>", False),
]


def qwen_tokenizer():
    d = os.path.join(SHARED, "vendor", "qwen2.5-coder-3b")
    vocab, merges = models.BPE.read_file(os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt"))
    tok = Tokenizer(models.BPE(vocab, merges, ignore_merges=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    for content, special in QWEN_ADDED:
        t = AddedToken(content, special=special, normalized=False, lstrip=False, rstrip=False,
                       single_word=False)
        if special:
            tok.add_special_tokens([t])
        else:
            tok.add_tokens([t])
    for i, (content, _) in enumerate(QWEN_ADDED):
        assert tok.token_to_id(content) == 151643 + i, content
    return tok


TINY_TEXT = """\
int main(int argc, char **argv) { return argc > 1 ? atoi(argv[1]) : 0; }
static void copy_bytes(unsigned char *dst, const unsigned char *src, size_t n) {
	for (size_t i = 0; i < n; i++) dst[i] = src[i];
}
mov rax, qword ptr [rbp - 0x18]
call printf ; the printer prints the print
The quick brown fox jumps over the lazy dog. It's the dog's day, isn't it?
Café crème, naïve façade, Ελληνικά, русский, 日本語のテキスト, 한국어 텍스트.
"""


def tiny_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=420, min_frequency=1, show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([TINY_TEXT] * 3, trainer=tr)
    tok.add_special_tokens([AddedToken("<s>", special=True, normalized=False),
                            AddedToken("</s>", special=True, normalized=False),
                            AddedToken("<sep>", special=True, lstrip=True, rstrip=True, normalized=False)])
    tok.add_tokens([AddedToken("[fn]", single_word=True, normalized=False),
                    AddedToken("XII", normalized=True),          # NFKC makes "Ⅻ" into it
                    AddedToken("café", normalized=False),       # decodes through the byte map
                    AddedToken("two words", normalized=False, rstrip=True)])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> $B </s>",
        special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
    return tok


def tiny_split_tokenizer(tiny_path):
    tok = Tokenizer.from_file(tiny_path)
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("-", behavior="merged_with_previous"),
        pre_tokenizers.Split(Regex(r"\d"), behavior="merged_with_next"),
        pre_tokenizers.Split(Regex(r"[aeiou]"), behavior="contiguous", invert=True),
        pre_tokenizers.Split(Regex(r"\s+"), behavior="removed"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.post_processor = None
    return tok


CASES_SPLIT = [
    ("dashes", "-", "the-final--countdown -x- --"),
    ("digits", "-", "abc1def22g 3 4x"),
    ("contig", "-", "queueing aeiou strength"),
    ("removed", "-", "a  b\t\tc\n d "),
    ("lower_nfd", "-", "CAFÉ Ǆemal İstanbul ΣΑΣ"),
]


def hexs(s):
    return s.encode("utf-8", "surrogatepass").hex()


def rand_text(rng, n):
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "_", "()[]{};,.:*&+-=<>!?/\\|\"'`#%^~@$",
        " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "\u0085", "\u200b", "\u2009", "\u180e", "\x0b\x0c", "\x1c\x1f",
        "'s", "'S", "'ll", "'re", "ſ", "\u212a", "éèêëàçñüößøåæœ", "e\u0301", "A\u030a", "\u1100\u1161\u11a8",
        "αβγδεζηθΩ", "абвгдеёжзЯ", "写一段描写春天的散文函数名称", "日本語カタカナひらがな", "한국어",
        "مرحبا", "नमस्ते", "ไทย", "Việt", "١٢٣", "１２３", "²³¼Ⅻ", "👍🏽🇫🇷👨‍👩‍👧😀🙂",
        "\U0001d400\U0001d41a", "\ufeff", "\u00ad", "\x00\x01\x7f",
        "<|endoftext|>", "<|im_start|>", "<|eot_id|>", "<|begin_of_text|>", "<|", "|>", "<s>", "<sep>",
        "[fn]", "[fn]", "two words", "XII", "café", "</s>",
    ]
    out = []
    for _ in range(n):
        p = rng.choice(pools)
        out.append(p if len(p) <= 2 or rng.random() < 0.3 or p.startswith("<") else
                   "".join(rng.choice(p) for _ in range(rng.randint(1, 6))))
    return "".join(out)


def c_source():
    for p in ("/usr/include/stdio.h", "/usr/include/string.h"):
        if os.path.exists(p):
            with open(p, encoding="utf-8", errors="replace") as f:
                return f.read()[:2500]
    return "int main(void) { return 0; }\n"


ASM = """\
0000000000001139 <main>:
    1139:	55                   	push   rbp
    113a:	48 89 e5             	mov    rbp,rsp
    113d:	48 83 ec 20          	sub    rsp,0x20
    1141:	89 7d ec             	mov    DWORD PTR [rbp-0x14],edi
    1144:	48 89 75 e0          	mov    QWORD PTR [rbp-0x20],rsi
    1148:	48 8d 05 b5 0e 00 00 	lea    rax,[rip+0xeb5]        # 2004 <_IO_stdin_used+0x4>
    114f:	48 89 c7             	mov    rdi,rax
    1152:	e8 d9 fe ff ff       	call   1030 <puts@plt>
    1157:	b8 00 00 00 00       	mov    eax,0x0
    115c:	c9                   	leave
    115d:	c3                   	ret
"""

CASES_COMMON = [
    ("asm_objdump", ASM),
    ("asm_ida", "push rbp\nmov rbp, rsp\nsub rsp, 20h\nmov [rbp+var_14], edi\ncall _puts\njz short INSTR12\nxor eax, eax\nretn"),
    ("c_source", None),
    ("identifiers", "getConfigValue snake_case_name HTTPServer __libc_start_main _ZN3foo3barEv x86_64_sysv_abi "
                    "sub_401000 EVP_DigestInit_ex SHA256_Update __stack_chk_fail memcpy@plt strtoull_l "
                    "kMaxBufferSize m_pImpl->doWork() std::vector<int>::push_back"),
    ("contractions", "I'm sure you'll see it's THEY'RE we'd I've 'S 'sorry' don't"),
    ("cjk", "写一段描写春天的散文，函数名称是什么？日本語のテキスト。한국어 텍스트."),
    ("emoji", "ok 👍🏽 🇫🇷 👨‍👩‍👧 😀😀😀 ✓ ★"),
    ("nfc_combining", "e\u0301 A\u030a \u00c5 cafe\u0301 \u1100\u1161\u11a8 n\u0303 \u0041\u0308\u0304 Z\u0327\u0301"),
    ("scripts", "Ελληνικά русский مرحبا नमस्ते ไทย Việt Nam ſ \u212a"),
    ("whitespace", "a  b   c\t\td\n\n\ne \r\n f     \n  \t x\u00a0y\u3000z \u2028 end   "),
    ("ws_only", "   \n\n   \t  "),
    ("numbers", "12345 1234567 3.14159 0x7fffffff 1e-10 2023 -42 007 ١٢٣٤ １２３４ ²³ Ⅻ 1,000,000"),
    ("empty", ""),
    ("single_space", " "),
    ("long_word", "a" * 300 + " " + "ab" * 200 + " " + "\u00e9" * 100),
    ("long_number", "9" * 100),
    ("control", "\x00\x01\x02\x1b[0m\x7f\u0080\u009f"),
]

CASES_LLAMA = [
    ("ref_hello", "a", "hello !"),
    ("ref_bangs", "a", "! ! !"),
    ("ref_paris", "-", "The capital of France is Paris."),
    ("ref_chat", "-", "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
                      "December 2023\nToday Date: 26 Jul 2024\n\nYou are a helpful assistant.<|eot_id|>"
                      "<|start_header_id|>user<|end_header_id|>\n\nHi, how have you been?<|eot_id|>"
                      "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    ("viet", "-", " Việt"),
    ("special_inside", "-", "a<|begin_of_text|>b <|eot_id|>\n<|end_of_text|><|end_of_text|> <|eot_id <|reserved_special_token_7|>x"),
    ("special_split", "s", "a<|begin_of_text|>b <|eot_id|>\n"),
    ("special_bos", "a", "<|eot_id|>text"),
]

CASES_QWEN = [
    ("ref_hello", "-", "Hello world"),
    ("ref_hello_space", "-", " Hello world"),
    ("ref_chat_long", "-", "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
                           "<|im_end|>\n<|im_start|>user\n写一段描写春天的散文<|im_end|>\n<|im_start|>assistant\n"),
    ("ref_chat_short", "-", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHow are you"
                            "<|im_end|>\n<|im_start|>assistant\n"),
    ("special_inside", "-", "x<|endoftext|><|endoftext|>y <|im_end <tool_call>{\"a\":1}</tool_call>"
                            "<|fim_prefix|>int f(<|fim_suffix|>}<|fim_middle|>"),
    ("special_split", "s", "x<|endoftext|>y <tool_call>z"),
    ("special_add", "a", "<|im_start|>hi"),
    ("nfc_after_special", "-", "<|im_end|>\u0301e\u0301"),
]

CASES_TINY = [
    ("plain", "-", "int main(int argc) { return 0; }"),
    ("template", "a", "copy the bytes"),
    ("sep_strip", "-", "left   <sep>   right<sep>x\t<sep>\n"),
    ("single_word", "-", "[fn] a[fn] [fn]b ([fn]) _[fn] [fn]"),
    ("normalized_added", "-", "x Ⅻ y XII zⅫ"),
    ("cafe", "-", "café crème café"),
    ("two_words", "-", "two words   and two words"),
    ("split_special", "s", "<s>hello</s> <sep> x"),
    ("nfkc", "-", "ﬁne ① ｆｕｌｌ"),
]


def cases_for(tok, specific, rng, nfuzz):
    out = []
    for name, flags, text in specific:
        out.append((name, flags, text))
    for name, text in CASES_COMMON:
        out.append((name, "-", c_source() if text is None else text))
    for i in range(nfuzz):
        out.append(("fuzz%d" % i, "-", rand_text(rng, rng.randint(1, 25))))
    for i in range(nfuzz // 4):
        raw = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        out.append(("bytes%d" % i, "-", raw.decode("utf-8", "replace")))
    return out


def write(tok, cases, path):
    lines = []
    for name, flags, text in cases:
        tok.encode_special_tokens = "s" in flags
        ids = tok.encode(text, add_special_tokens="a" in flags).ids
        tok.encode_special_tokens = False
        d = tok.decode(ids, skip_special_tokens=False)
        ds = tok.decode(ids, skip_special_tokens=True)
        lines.append("\t".join([name, flags, hexs(text), ",".join(map(str, ids)), hexs(d), hexs(ds)]))
    with open(path, "w") as f:
        f.write("# golden ids from tokenizers %s (tests/gen/gen_bpe.py); "
                "name flags text-hex ids decode-hex decode-skip-hex\n" % tokenizers.__version__)
        f.write("\n".join(lines) + "\n")
    print("wrote %s (%d cases)" % (path, len(lines)))


def legacy_merges(path_in, path_out):
    with open(path_in, encoding="utf-8") as f:
        d = json.load(f)
    d["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in d["model"]["merges"]]
    with open(path_out, "w", encoding="utf-8") as f:
        json.dump(d, f, ensure_ascii=False, indent=1)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(20261121)

    tiny = tiny_tokenizer()
    tiny.save(os.path.join(OUT, "tiny.json"))
    with open(os.path.join(OUT, "tiny.json"), encoding="utf-8") as f:
        assert isinstance(json.load(f)["model"]["merges"][0], list), "expected [a, b] merges"
    legacy_merges(os.path.join(OUT, "tiny.json"), os.path.join(OUT, "tiny_legacy.json"))
    tl = Tokenizer.from_file(os.path.join(OUT, "tiny_legacy.json"))
    write(tiny, cases_for(tiny, CASES_TINY, rng, 40), os.path.join(OUT, "tiny.tsv"))
    assert tl.encode(TINY_TEXT).ids == tiny.encode(TINY_TEXT).ids

    ts = tiny_split_tokenizer(os.path.join(OUT, "tiny.json"))
    ts.save(os.path.join(OUT, "tiny_split.json"))
    write(ts, cases_for(ts, CASES_SPLIT, rng, 20), os.path.join(OUT, "tiny_split.tsv"))

    llama = Tokenizer.from_file(os.path.join(SHARED, "vendor", "llama-3.2-3b-instruct", "tokenizer.json"))
    write(llama, cases_for(llama, CASES_LLAMA, rng, 120), os.path.join(OUT, "llama.tsv"))

    qwen = qwen_tokenizer()
    write(qwen, cases_for(qwen, CASES_QWEN, rng, 120), os.path.join(OUT, "qwen.tsv"))


if __name__ == "__main__":
    main()
