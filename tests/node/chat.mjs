// The official Node openai SDK's chat completion: prints the answer's text and finish reason as JSON.
// Usage: node chat.mjs BASE_URL API_KEY MODEL MESSAGE
import OpenAI from "openai";

const [baseURL, apiKey, model, message] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });
const answer = await client.chat.completions.create({
  model,
  messages: [{ role: "user", content: message ?? "hello" }],
});
console.log(JSON.stringify({
  content: answer.choices[0].message.content,
  finish_reason: answer.choices[0].finish_reason,
  usage: answer.usage,
}));
