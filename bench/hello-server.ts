// The baseline of the benchmarks: a bare Fastify 5 server with one route that returns a constant JSON
// object, without logging, plugins or a store. bench/bench.ts runs it as a child process on 127.0.0.1 and
// sends it the same load as sigma-accounts, so that each operation's throughput can be read as a fraction
// of what Fastify itself does on the same machine.
//
//   PORT=8081 node --import tsx bench/hello-server.ts
import Fastify from 'fastify';

const port = Number(process.env.PORT ?? '8081');

const app = Fastify({ logger: false });
app.get('/hello', async () => ({ hello: 'world' }));

await app.listen({ host: '127.0.0.1', port });

process.once('SIGTERM', () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
