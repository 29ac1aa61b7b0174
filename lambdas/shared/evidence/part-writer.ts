/**
 * Writes a byte stream of known length to S3 as it arrives: one PutObject when it fits one part, else a multipart
 * upload with a few parts in flight. Hand-written instead of `@aws-sdk/lib-storage` for the staging hot path
 * (issue 14, measured with `npm run bench -- --only staging`):
 * - a fixed pool of part buffers, allocated once and reused: the download's socket reads land straight in the part
 *   being filled ({@link PartWriter.region}), other bytes are copied once (chunk → part), no per-part
 *   `Buffer.concat` into fresh memory, and memory is bounded by the pool, not by when V8 collects;
 * - the part's CRC32 is fed chunk by chunk by the caller's loop (the same pass that feeds the evidence SHA-256) and
 *   sent as `x-amz-checksum-crc32`, so the SDK does not read the part again;
 * - over TLS (or loopback) the payload is sent `UNSIGNED-PAYLOAD`: S3 verifies every part against the signed CRC32
 *   header, a SigV4 SHA-256 of every part body on top would cost a second SHA-256 pass for nothing.
 * The object is written once: the PutObject or the CompleteMultipartUpload carries `If-None-Match: *`.
 */
import { crc32 } from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { BuildMiddleware, MetadataBearer } from '@smithy/types';

/** Options for {@link PartWriter}. */
export interface PartWriterOptions {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly key: string;
  /** Exactly the bytes that will be written (the announced length); decides single PUT or multipart. */
  readonly totalBytes: number;
  readonly partSizeBytes: number;
  /** Parts uploaded concurrently; the pool holds one more, the part being filled. */
  readonly queueSize: number;
  readonly contentType: string;
  readonly metadata?: Record<string, string>;
  readonly legalHold?: boolean;
}

/** The written object. */
export interface WrittenObject {
  readonly etag: string | undefined;
  readonly versionId: string | undefined;
  /** Parts uploaded (1 for a single PutObject). */
  readonly parts: number;
}

const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|\[?::1\]?|localhost)$/i;

/**
 * Build-step middleware: sign the request with `x-amz-content-sha256: UNSIGNED-PAYLOAD` when it goes over TLS (or
 * stays on this host) and carries an `x-amz-checksum-*` header, which is signed and which S3 checks the body against.
 * Plain HTTP to another host keeps the SDK's payload hash.
 */
const unsignedPayloadOverTls: BuildMiddleware<object, MetadataBearer> = (next) => async (args) => {
  const request = args.request as {
    protocol?: string;
    hostname?: string;
    headers?: Record<string, string>;
  };
  const headers = request.headers;
  if (
    headers &&
    (request.protocol === 'https:' || LOOPBACK.test(request.hostname ?? '')) &&
    Object.keys(headers).some((h) => h.toLowerCase().startsWith('x-amz-checksum-'))
  ) {
    headers['x-amz-content-sha256'] = UNSIGNED_PAYLOAD;
  }
  return next(args);
};

function unsigned<C extends { middlewareStack: { add: (...args: never[]) => void } }>(command: C): C {
  (command.middlewareStack as unknown as { add: (m: unknown, o: unknown) => void }).add(
    unsignedPayloadOverTls,
    {
      step: 'build',
      name: 'evidenceUnsignedPayloadOverTls',
    },
  );
  return command;
}

function crcBase64(crc: number): string {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(crc >>> 0, 0);
  return out.toString('base64');
}

/**
 * Accepts the object's bytes in order ({@link write}), uploads full parts in the background, and completes with
 * {@link finish}; {@link abort} removes an unfinished multipart upload. Not reusable.
 */
export class PartWriter {
  private readonly options: PartWriterOptions;
  private readonly single: boolean;
  private readonly bufferSize: number;
  /** Buffers not in use; at most `queueSize + 1` ever allocated. */
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private waiting: (() => void) | undefined;
  /** A write is waiting for part buffers ({@link writeRest}). */
  private resting = false;
  private current: Buffer | undefined;
  private filled = 0;
  private crc = 0;
  private partNumber = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly completed: CompletedPart[] = [];
  private uploadId: Promise<string> | undefined;
  private failure: { error: unknown } | undefined;
  private readonly abortController = new AbortController();

  constructor(options: PartWriterOptions) {
    this.options = options;
    this.single = options.totalBytes <= options.partSizeBytes;
    this.bufferSize = Math.min(options.partSizeBytes, options.totalBytes);
  }

  /**
   * Copies `chunk` into the current part. Returns nothing when the chunk was taken whole at once (the usual case:
   * no promise, no microtask per chunk on the hot path), or a promise that settles once it was, when every part
   * buffer was in flight. Throws (or rejects) once a part upload has failed.
   */
  write(chunk: Buffer): Promise<void> | undefined {
    const taken = this.take(chunk, 0);
    return taken === chunk.length ? undefined : this.writeRest(chunk, taken);
  }

  /**
   * The free tail of the part being filled (starting one if a buffer is at hand), for the next download read to
   * land in: {@link write} then takes a chunk that lies exactly there without copying it. Undefined when every part
   * buffer is in flight, or nothing more fits.
   */
  region(): Buffer | undefined {
    // While a write waits for a buffer to come back, the next one to come back is that write's.
    if (this.failure || this.resting) return undefined;
    if (!this.current) {
      const buffer = this.free.pop() ?? this.allocate();
      if (!buffer) return undefined;
      this.startPart(buffer);
    }
    const current = this.current as Buffer;
    return this.filled < this.bufferSize ? current.subarray(this.filled, this.bufferSize) : undefined;
  }

  /** The rest of `chunk` from `offset`, waiting for part buffers to come back. */
  private async writeRest(chunk: Buffer, offset: number): Promise<void> {
    this.resting = true;
    try {
      let at = offset;
      while (at < chunk.length) {
        if (this.failure) throw this.failure.error;
        if (!this.current) this.startPart(await this.nextBuffer());
        at = this.take(chunk, at);
      }
    } finally {
      this.resting = false;
    }
  }

  private startPart(buffer: Buffer): void {
    this.current = buffer;
    this.filled = 0;
    this.crc = 0;
  }

  /**
   * Copies from `chunk[offset]` into the current part (and the parts after it) while a buffer is at hand; returns
   * the offset it got to (`chunk.length` when all of it was taken).
   */
  private take(chunk: Buffer, offset: number): number {
    let at = offset;
    while (at < chunk.length) {
      if (this.failure) throw this.failure.error;
      if (!this.current) {
        const buffer = this.free.pop() ?? this.allocate();
        if (!buffer) return at;
        this.startPart(buffer);
      }
      const current = this.current as Buffer;
      const n = Math.min(chunk.length - at, this.bufferSize - this.filled);
      // Only a single-part object's buffer can be full here: more bytes than announced (the download refuses those).
      if (n === 0)
        throw new RangeError(
          `more than the ${this.options.totalBytes} bytes announced for ${this.options.key}`,
        );
      const piece = at === 0 && n === chunk.length ? chunk : chunk.subarray(at, at + n);
      // A read that landed in this part's free tail ({@link region}) is in place already.
      const inPlace =
        piece.buffer === current.buffer && piece.byteOffset === current.byteOffset + this.filled;
      if (!inPlace) piece.copy(current, this.filled);
      this.crc = crc32(piece, this.crc);
      this.filled += n;
      at += n;
      if (this.filled === this.bufferSize && !this.single) this.flushPart();
    }
    return at;
  }

  /** Uploads what is left and completes the object (conditional: refused with 412 if the key exists). */
  async finish(): Promise<WrittenObject> {
    if (this.failure) throw this.failure.error;
    const o = this.options;
    if (this.single) {
      const body = this.current ? this.current.subarray(0, this.filled) : Buffer.alloc(0);
      const out = await o.s3.send(
        unsigned(
          new PutObjectCommand({
            Bucket: o.bucket,
            Key: o.key,
            Body: body,
            ContentLength: body.length,
            ContentType: o.contentType,
            ChecksumCRC32: crcBase64(this.current ? this.crc : 0),
            Metadata: o.metadata,
            IfNoneMatch: '*',
            ...(o.legalHold ? { ObjectLockLegalHoldStatus: 'ON' as const } : {}),
          }),
        ),
      );
      return { etag: out.ETag, versionId: out.VersionId, parts: 1 };
    }
    if (this.current && this.filled > 0) this.flushPart();
    await this.settle();
    this.throwIfFailed();
    const uploadId = await this.createUpload();
    const parts = [...this.completed].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    const out = await o.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: o.bucket,
        Key: o.key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
        IfNoneMatch: '*',
      }),
    );
    return { etag: out.ETag, versionId: out.VersionId, parts: parts.length };
  }

  /** Stops parts in flight and aborts the multipart upload, if one was started (best effort). */
  async abort(): Promise<void> {
    this.failure ??= { error: new Error('aborted') };
    this.abortController.abort();
    await this.settle();
    if (!this.uploadId) return;
    const uploadId = await this.uploadId.catch(() => undefined);
    if (!uploadId) return;
    await this.options.s3
      .send(
        new AbortMultipartUploadCommand({
          Bucket: this.options.bucket,
          Key: this.options.key,
          UploadId: uploadId,
        }),
      )
      .catch(() => undefined);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** A new part buffer while the pool is not full yet (at most `queueSize + 1` ever). */
  private allocate(): Buffer | undefined {
    if (this.allocated >= this.options.queueSize + 1) return undefined;
    this.allocated++;
    // Outside Node's small-buffer pool: one allocation per buffer for the life of the writer.
    return Buffer.allocUnsafeSlow(this.bufferSize);
  }

  /** A free part buffer: one that comes back from an upload, or a new one while the pool is not full. */
  private nextBuffer(): Promise<Buffer> {
    const buffer = this.free.pop() ?? this.allocate();
    if (buffer) return Promise.resolve(buffer);
    return new Promise<Buffer>((resolve, reject) => {
      this.waiting = () => {
        this.waiting = undefined;
        const buffer = this.free.pop();
        if (buffer) resolve(buffer);
        else reject(this.failure?.error ?? new Error('no part buffer came back'));
      };
    });
  }

  private createUpload(): Promise<string> {
    const o = this.options;
    this.uploadId ??= o.s3
      .send(
        new CreateMultipartUploadCommand({
          Bucket: o.bucket,
          Key: o.key,
          ContentType: o.contentType,
          ChecksumAlgorithm: 'CRC32',
          Metadata: o.metadata,
          ...(o.legalHold ? { ObjectLockLegalHoldStatus: 'ON' as const } : {}),
        }),
        { abortSignal: this.abortController.signal },
      )
      .then((out) => {
        if (!out.UploadId) throw new Error('S3 answered CreateMultipartUpload without an UploadId');
        return out.UploadId;
      });
    return this.uploadId;
  }

  private flushPart(): void {
    const buffer = this.current as Buffer;
    const length = this.filled;
    const checksum = crcBase64(this.crc);
    const partNumber = ++this.partNumber;
    this.current = undefined;
    this.filled = 0;
    const o = this.options;
    const task = (async () => {
      try {
        const uploadId = await this.createUpload();
        const out = await o.s3.send(
          unsigned(
            new UploadPartCommand({
              Bucket: o.bucket,
              Key: o.key,
              UploadId: uploadId,
              PartNumber: partNumber,
              Body: buffer.subarray(0, length),
              ContentLength: length,
              ChecksumCRC32: checksum,
            }),
          ),
          { abortSignal: this.abortController.signal },
        );
        this.completed.push({
          PartNumber: partNumber,
          ETag: out.ETag,
          ChecksumCRC32: out.ChecksumCRC32 ?? checksum,
        });
      } catch (error) {
        this.failure ??= { error };
      } finally {
        this.free.push(buffer);
        this.waiting?.();
      }
    })();
    this.inFlight.add(task);
    task.finally(() => this.inFlight.delete(task));
  }
}
