/**
 * A Lambda Function URL, locally: an HTTP server on 127.0.0.1 that turns each request into the payload (version 2.0)
 * Lambda gives a function behind a Function URL (header names in lower case; a body that is not text arrives
 * base64-encoded) and answers with the function's result, as the service does for `InvokeMode.BUFFERED`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';

/** Largest request body the service accepts (6 MB for buffered invocations). */
const MAX_BODY_BYTES = 6 * 1024 * 1024;

/** A running local Function URL. */
export interface LocalFunctionUrl {
  /** `http://127.0.0.1:<port>/`, like a Function URL's origin and trailing slash. */
  readonly url: string;
  close(): Promise<void>;
}

function isText(contentType: string | undefined): boolean {
  const type = (contentType ?? '').toLowerCase();
  return (
    type.startsWith('text/') || type.includes('json') || type.includes('xml') || type.includes('urlencoded')
  );
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Serves `invoke` (the function's handler, with its environment) at a local URL. */
export async function startFunctionUrl(
  invoke: (event: LambdaFunctionURLEvent, requestId: string) => Promise<unknown>,
): Promise<LocalFunctionUrl> {
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      if (body === undefined) {
        res
          .writeHead(413, { 'content-type': 'application/json' })
          .end('{"message":"Request Entity Too Large"}');
        return;
      }
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
      }
      const text = isText(headers['content-type']);
      const requestId = randomUUID();
      const event = {
        version: '2.0',
        routeKey: '$default',
        rawPath: url.pathname,
        rawQueryString: url.search.replace(/^\?/, ''),
        headers,
        requestContext: {
          accountId: 'anonymous',
          apiId: 'local',
          domainName: headers.host ?? '127.0.0.1',
          domainPrefix: 'local',
          http: {
            method: (req.method ?? 'GET').toUpperCase(),
            path: url.pathname,
            protocol: 'HTTP/1.1',
            sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
            userAgent: headers['user-agent'] ?? '',
          },
          requestId,
          routeKey: '$default',
          stage: '$default',
          time: new Date().toUTCString(),
          timeEpoch: Date.now(),
        },
        body: body.length === 0 ? undefined : text ? body.toString('utf8') : body.toString('base64'),
        isBase64Encoded: body.length > 0 && !text,
      } as LambdaFunctionURLEvent;
      try {
        const result = (await invoke(event, requestId)) as LambdaFunctionURLResult;
        const out =
          typeof result === 'object' && result !== null
            ? result
            : { statusCode: 200, body: JSON.stringify(result) };
        res.writeHead(out.statusCode ?? 200, (out.headers ?? {}) as Record<string, string>);
        res.end(out.isBase64Encoded ? Buffer.from(out.body ?? '', 'base64') : (out.body ?? ''));
      } catch {
        // What the service answers when the function itself fails.
        res.writeHead(502, { 'content-type': 'application/json' }).end('{"message":"Internal Server Error"}');
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
