// The official Node openai SDK's default embeddings call (it asks for base64): prints the decoded
// vectors as JSON, one array per input. Usage: node embeddings.mjs BASE_URL API_KEY MODEL [INPUT...]
import OpenAI from "openai";

const [baseURL, apiKey, model, ...inputs] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });
const answer = await client.embeddings.create({ model, input: inputs.length ? inputs : ["hello world"] });
console.log(JSON.stringify({
  vectors: answer.data.map((item) => Array.from(item.embedding)),
  usage: answer.usage,
}));
