#pragma once
// Tokenizers for the models edge-rt runs: Hugging Face tokenizer.json (BPE with its normalizers, pre-tokenizers,
// post-processor and decoders), GPT-2 vocab.json + merges.txt, llama2.c tokenizer.bin and GGUF tokenizer.ggml.*.

#include <edge_rt/core/result.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edge_rt::model_ir {
class GgufFile;
}

namespace edge_rt::tokenizer {

using TokenId = std::int32_t;

/// Interface. Implementations are immutable after construction, so every const method is thread-safe.
/// Neither copy nor move through the interface; own one through std::unique_ptr.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  /// Text to ids. Adds no BOS. Any byte string is accepted (invalid UTF-8 goes through byte tokens).
  virtual std::vector<TokenId> encode(std::string_view text) const = 0;

  /// Raw bytes one token stands for in decoded text; may be part of a UTF-8 character (byte tokens).
  /// Control tokens (BOS, EOS, <unk>, padding) give "". Precondition: 0 <= id < vocab_size().
  virtual std::string token_bytes(TokenId id) const = 0;

  /// Number of ids, added/special tokens included.
  virtual std::size_t vocab_size() const = 0;

  virtual std::optional<TokenId> bos_id() const = 0;
  virtual std::optional<TokenId> eos_id() const = 0;

  /// SentencePiece decoders drop the space that the encoder's dummy prefix put before the first word.
  virtual bool strips_leading_space() const = 0;

  /// The token's string in the vocabulary as the file spells it ("Ġworld", "▁Hello", "<0x0A>", "<|im_start|>").
  /// Precondition: 0 <= id < vocab_size().
  virtual std::string piece(TokenId id) const = 0;

  /// Ids Hugging Face's add_special_tokens=True puts before / after an encoded text: tokenizer.json's
  /// post_processor, overridden by tokenizer_config.json's add_bos_token / add_eos_token; GGUF's
  /// tokenizer.ggml.add_bos_token / add_eos_token (llama.cpp's defaults where absent); BOS for llama2.c.
  virtual std::vector<TokenId> special_prefix() const { return {}; }
  virtual std::vector<TokenId> special_suffix() const { return {}; }

  /// special_prefix() + encode(text) + special_suffix(): HF's encode(text, add_special_tokens=True).
  std::vector<TokenId> encode_with_special(std::string_view text) const;

  /// Ids to text: token_bytes() joined, minus the leading space where strips_leading_space().
  std::string decode(std::span<const TokenId> ids) const;

 protected:
  Tokenizer() = default;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
};

/// Loads the tokenizer of a model: a GGUF file (or a folder holding one and no config.json, model_ir::find_gguf)
/// through its tokenizer.ggml.* metadata (tokenizer_from_ggml); else, in an HF-layout folder, tokenizer.json with
/// tokenizer_config.json beside it when present (load_tokenizer_json), else vocab.json + merges.txt (GPT-2), else
/// tokenizer.bin (llama2.c format).
/// Errors: kIoError when none of these files exists; kInvalidFormat / kMissingField naming the file and field.
Result<std::unique_ptr<Tokenizer>> load_tokenizer(const std::filesystem::path& model_dir);

/// Whether model_dir holds a tokenizer load_tokenizer reads: a GGUF file with tokenizer.ggml.model (or one that
/// does not open), tokenizer.json, vocab.json, merges.txt or tokenizer.bin. A model without one has no tokenizer;
/// one with a broken one must report it, not run without it.
bool has_tokenizer_files(const std::filesystem::path& model_dir) noexcept;

/// A GGUF file's tokenizer.ggml.* metadata (ggml docs/gguf.md, "Tokenizer"; llama.cpp's llama-vocab.cpp is the
/// behaviour matched). Copyable value.
struct GgmlVocab {
  std::string model;  ///< tokenizer.ggml.model: "gpt2" (byte-level BPE) or "llama" (SentencePiece BPE).
  std::string pre;    ///< tokenizer.ggml.pre: the pre-tokenizer ("default", "gpt-2", "smollm"); "" when absent.
  std::vector<std::string> tokens;
  std::vector<float> scores;              ///< "llama": merge priority of each token; may be empty for "gpt2".
  std::vector<std::int32_t> token_types;  ///< 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
  std::vector<std::string> merges;        ///< "gpt2": "left right", by rank.
  std::optional<TokenId> bos_id;
  std::optional<TokenId> eos_id;
  std::optional<TokenId> unk_id;
  bool add_space_prefix = true;  ///< "llama": a "▁" before the text and after each special token.
  std::optional<bool> add_bos;   ///< tokenizer.ggml.add_bos_token; absent: true for "llama", false for "gpt2"
  std::optional<bool> add_eos;   ///< tokenizer.ggml.add_eos_token; absent: false
};
/// The tokenizer a GgmlVocab describes. Control (3) and user-defined (4) tokens are matched verbatim in the text,
/// as llama.cpp does with special-token parsing on; control tokens decode to "". "gpt2" needs a pre-tokenizer
/// it knows: "default", "gpt-2" and absent (the GPT-2 pattern), "smollm" (digits one by one, then the GPT-2
/// pattern). `label` names the source in messages. Errors: kInvalidFormat (sizes disagree, a merge that is not
/// "left right" or names unknown tokens, an id out of range), kUnsupported (another model or pre-tokenizer).
Result<std::unique_ptr<Tokenizer>> tokenizer_from_ggml(const GgmlVocab& vocab, const std::string& label);

/// The tokenizer.ggml.* keys of an opened GGUF file. Errors: kMissingField (tokenizer.ggml.model or .tokens
/// absent), kInvalidFormat (a key of the wrong type, an id outside the vocabulary), naming the file and key.
Result<GgmlVocab> ggml_vocab_of(const model_ir::GgufFile& file);

/// HF tokenizer.json text that load_tokenizer reads back as tokenizer_from_ggml(vocab) encodes: for "gpt2",
/// model BPE (vocab, merges) with the ByteLevel pre-tokenizer (after a Split on \p{N} for "smollm") and control /
/// user-defined tokens as added_tokens (special: control); for "llama", SentencePiece BPE
/// (sentencepiece_tokenizer_json; ids 0, 1, 2 must be <unk>, <s>, </s>). BOS / EOS as the GGUF adds them
/// become a TemplateProcessing post_processor. Errors: kUnsupported otherwise, and tokenizer_from_ggml's.
/// Thread-safe.
Result<std::string> ggml_tokenizer_json(const GgmlVocab& vocab, const std::string& label);

/// A Hugging Face tokenizer.json (huggingface/tokenizers; its pipeline, in order: added tokens, normalizer,
/// pre-tokenizer, model, post-processor; decoder), with the tokenizer_config.json beside it when that exists.
///  - added_tokens: matched leftmost-longest in the raw text (normalized ones in the normalized text), special or
///    not, with lstrip / rstrip / single_word; special ones decode to "".
///  - normalizer: NFC, NFD, NFKC, NFKD (utf8proc), Lowercase, Prepend, Replace (String or Regex), Strip, Sequence.
///  - pre_tokenizer: Split (String or Regex; every behaviour; invert), ByteLevel, Metaspace, Digits, Whitespace,
///    WhitespaceSplit, Punctuation, Sequence. Regexes run on PCRE2 with Unicode properties (\p{L}, \p{N}, \s).
///  - model: BPE with byte_fallback, unk_token / fuse_unk and ignore_merges; merges by their order in the file.
///  - post_processor: TemplateProcessing ("single"), Roberta/Bert, ByteLevel, Sequence (special_prefix/suffix).
///  - decoder: ByteLevel, Replace (String), ByteFallback, Fuse, Strip(" ", 1, 0), Metaspace, Sequence.
///  - tokenizer_config.json: bos_token / eos_token (string or {"content"}), add_bos_token / add_eos_token.
/// Errors: kIoError / kInvalidFormat / kMissingField naming the file and field; kUnsupported naming a component
/// it does not implement (WordPiece or Unigram models, a Precompiled normalizer, ...). Bytes that are not UTF-8
/// in encoded text never match a regex and reach the model as single bytes (byte fallback or unk).
Result<std::unique_ptr<Tokenizer>> load_tokenizer_json(const std::filesystem::path& tokenizer_json);

/// The same from tokenizer.json (and optionally tokenizer_config.json) text already in memory; the labels name
/// the sources in messages. Exposed for fuzzing and embedding.
Result<std::unique_ptr<Tokenizer>> parse_tokenizer_json(std::string_view text, const std::string& label,
                                                        std::optional<std::string_view> config_text = std::nullopt,
                                                        const std::string& config_label = "tokenizer_config.json");

/// GPT-2 vocab.json + merges.txt (Radford et al. 2019, encoder.py): byte-level BPE with the GPT-2 pattern
/// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+; <|endoftext|> in the text maps to its
/// id.
Result<std::unique_ptr<Tokenizer>> load_gpt2_vocab_merges(const std::filesystem::path& vocab_json,
                                                          const std::filesystem::path& merges_txt);
/// vocab.json + merges.txt from text in memory; the labels name the two sources in messages.
Result<std::unique_ptr<Tokenizer>> parse_gpt2_vocab_merges(std::string_view vocab_json, std::string_view merges_txt,
                                                           const std::string& vocab_label,
                                                           const std::string& merges_label);

/// llama2.c tokenizer.bin: int32 max_token_length, then per token float32 score, int32 length, bytes.
/// Ids 0/1/2 are <unk>/<s>/</s>, 3..258 are <0x00>..<0xFF>. Merges pick the adjacent pair whose concatenation has the
/// highest score (llama2.c run.c `encode`), a dummy-prefix space is added to non-empty text.
/// max_token_length must lie in 1..kMaxLlama2cPieceBytes and bounds every piece's length: building the merges
/// looks at every split of every piece, so piece length is what a hostile file would inflate.
Result<std::unique_ptr<Tokenizer>> load_llama2c_tokenizer(const std::filesystem::path& tokenizer_bin);
/// The same from the file's bytes in memory; `label` names the source in messages.
Result<std::unique_ptr<Tokenizer>> parse_llama2c_tokenizer(std::string_view bytes, const std::string& label);

/// Longest piece accepted in a llama2.c tokenizer.bin (SentencePiece's own default cap is 16 bytes; the
/// llama2.c vocabularies use at most a few dozen).
inline constexpr std::int32_t kMaxLlama2cPieceBytes = 256;

/// A vocabulary read from llama2.c tokenizer.bin, for the converter: pieces use "▁" for spaces (HF convention),
/// merges are every split of a piece into two pieces, ordered by the merged piece's score (highest first).
struct SentencePieceVocab {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<std::pair<std::string, std::string>> merges;
};
Result<SentencePieceVocab> read_llama2c_vocab(const std::filesystem::path& tokenizer_bin);
/// The same from the file's bytes in memory.
Result<SentencePieceVocab> parse_llama2c_vocab(std::string_view bytes, const std::string& label);

/// HF tokenizer.json text for `vocab`: model {type BPE, vocab, merges as [left, right] pairs, byte_fallback true,
/// unk_token "<unk>"}, added_tokens <unk>/<s>/</s> (special), normalizer Sequence[Prepend "▁", Replace " " -> "▁"],
/// decoder Sequence[Replace "▁" -> " ", ByteFallback, Fuse, Strip 1 left], post_processor TemplateProcessing
/// "<s> $A" when add_bos (as Llama's own tokenizer.json). load_tokenizer_json() on it encodes like
/// load_llama2c_tokenizer() on the source file, except text containing "<unk>", "<s>" or "</s>" (HF matches added
/// tokens in the raw text) and two pairs that make the same piece in one word (tokenizers ranks merges by their
/// position in the list, llama2.c by the merged piece's score). Pieces must be valid UTF-8 for the JSON to be
/// valid. Thread-safe.
std::string sentencepiece_tokenizer_json(const SentencePieceVocab& vocab, bool add_bos = true);

/// `bytes` with every ill-formed UTF-8 sequence (a byte token's half character) replaced by U+FFFD, as Python's
/// decode(errors="replace") and Hugging Face's decode do: for JSON and other text-only outputs. Thread-safe.
std::string to_valid_utf8(std::string_view bytes);

/// Turns a token stream into text without ever emitting half a UTF-8 character: bytes of an incomplete sequence
/// are held until the sequence completes. Move-only; the tokenizer must outlive it.
class StreamingDecoder final {
 public:
  /// `at_start`: the stream begins the text, so a SentencePiece decoder drops the first piece's leading space;
  /// false continues text decoded elsewhere (generation after a prompt).
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool at_start = true)
      : tokenizer_(&tokenizer), at_start_(at_start) {}
  StreamingDecoder(StreamingDecoder&&) noexcept = default;
  StreamingDecoder& operator=(StreamingDecoder&&) noexcept = default;

  /// Text completed by this token (possibly empty).
  std::string push(TokenId id);
  /// Whatever is still held (an incomplete sequence at the end of generation), as raw bytes.
  std::string flush();

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;
  bool at_start_;
};

}  // namespace edge_rt::tokenizer
