// Encodes strings with the npm package gpt-3-encoder (an independent JavaScript port of OpenAI's GPT-2
// encoder), the reference the tokenizer tests compare against. Install the package with
// tools/fetch_tokenizer.sh.
//
// usage: node tools/js_encode.js TEXTS.json IDS.json
//   TEXTS.json: a JSON array of strings; IDS.json receives a JSON array of id arrays, one per string.
'use strict';
const fs = require('fs');
const path = require('path');

if (process.argv.length !== 4) {
  console.error('usage: node tools/js_encode.js TEXTS.json IDS.json');
  process.exit(2);
}
const packageDir = path.join(__dirname, 'node_modules', 'gpt-3-encoder');
if (!fs.existsSync(path.join(packageDir, 'Encoder.js'))) {
  console.error(`js_encode.js: ${packageDir} is missing; run tools/fetch_tokenizer.sh`);
  process.exit(1);
}
const { encode } = require(packageDir);

const texts = JSON.parse(fs.readFileSync(process.argv[2], 'utf-8'));
if (!Array.isArray(texts) || !texts.every((text) => typeof text === 'string')) {
  console.error(`js_encode.js: ${process.argv[2]} must hold a JSON array of strings`);
  process.exit(1);
}
fs.writeFileSync(process.argv[3], JSON.stringify(texts.map((text) => encode(text))));
