// The official OpenAI client library (npm `openai`, pinned in package.json) against a running
// swarm-serve: completions, chat, both streamed, the model list, errors and authentication.
// tests/test_serve_openai.cpp runs it as
//   node openai_client.mjs '{"base_url": "http://127.0.0.1:PORT/v1", "api_key": KEY, ...}'
// and checks what it prints: one JSON object with what the client got from each call. Every
// call is bounded (no retries, a timeout); the script ends by itself.
import OpenAI from 'openai';

const spec = JSON.parse(process.argv[2]);
const options = { baseURL: spec.base_url, maxRetries: 0, timeout: 60000 };
const client = new OpenAI({ ...options, apiKey: spec.api_key });

// What a failed call threw: the client's error class, the HTTP status and the server's message.
async function failure(call) {
  try {
    await call();
    return { class: 'none' };
  } catch (err) {
    return { class: err.constructor.name, status: err.status ?? null, message: err.error?.message ?? err.message,
             type: err.error?.type ?? null, is_api_error: err instanceof OpenAI.APIError };
  }
}

async function main() {
  const out = {};
  const models = await client.models.list();
  out.models = models.data.map((m) => m.id);

  const { data: completion, response } = await client.completions
    .create({ model: spec.completion.model, prompt: spec.completion.prompt, max_tokens: spec.max_tokens })
    .withResponse();
  out.completion = { text: completion.choices[0].text, finish_reason: completion.choices[0].finish_reason,
                     completion_tokens: completion.usage.completion_tokens, id: completion.id,
                     request_id: response.headers.get('x-request-id') };

  const routed = await client.completions.create({ model: 'swarm', prompt: spec.routed.prompt, max_tokens: spec.max_tokens });
  out.routed = { text: routed.choices[0].text, label: routed.swarm.label, specialist: routed.model };

  const chat = await client.chat.completions.create({
    model: spec.chat.model, max_tokens: spec.max_tokens,
    messages: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: spec.chat.user }],
  });
  out.chat = { content: chat.choices[0].message.content, role: chat.choices[0].message.role,
               finish_reason: chat.choices[0].finish_reason };

  const stream = await client.completions.create({ model: spec.completion.model, prompt: spec.completion.prompt,
                                                    max_tokens: spec.max_tokens, stream: true });
  out.stream_completion = { text: '', chunks: 0, finish_reason: null };
  for await (const chunk of stream) {
    out.stream_completion.chunks += 1;
    out.stream_completion.text += chunk.choices[0].text;
    if (chunk.choices[0].finish_reason) out.stream_completion.finish_reason = chunk.choices[0].finish_reason;
  }

  const chatStream = await client.chat.completions.create({
    model: spec.chat.model, max_tokens: spec.max_tokens, stream: true,
    messages: [{ role: 'user', content: spec.chat.user }],
  });
  out.stream_chat = { content: '', chunks: 0, first_role: null };
  for await (const chunk of chatStream) {
    if (out.stream_chat.chunks === 0) out.stream_chat.first_role = chunk.choices[0].delta.role ?? null;
    out.stream_chat.chunks += 1;
    out.stream_chat.content += chunk.choices[0].delta.content ?? '';
  }

  const wrongKey = new OpenAI({ ...options, apiKey: 'sk-not-a-key-of-this-server-000' });
  out.errors = {
    unknown_model: await failure(() => client.completions.create({ model: 'gpt-4o', prompt: 'x' })),
    bad_max_tokens: await failure(() => client.completions.create({ model: 'swarm', prompt: 'x', max_tokens: 0 })),
    bad_messages: await failure(() => client.chat.completions.create({ model: 'swarm', messages: [] })),
    stream_unknown_model: await failure(async () => {
      for await (const _ of await client.chat.completions.create({
        model: 'nope', stream: true, messages: [{ role: 'user', content: 'x' }] })) { /* nothing arrives */ }
    }),
    wrong_key: await failure(() => wrongKey.completions.create({ model: 'swarm', prompt: 'x' })),
    wrong_key_models: await failure(() => wrongKey.models.list()),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(`openai_client.mjs: ${err.stack ?? err}\n`);
  process.exit(1);
});
