// Token counts with o200k_base (the vocabulary ships inside gpt-tokenizer: nothing downloaded).
// stdin: a JSON array of strings; stdout: a JSON array of their token counts.
import { countTokens } from "gpt-tokenizer/encoding/o200k_base";

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
process.stdout.write(JSON.stringify(JSON.parse(input).map((text) => countTokens(text))));
