// Full-size chunk buffers are reused instead of freed. Each chunk holds
// ~2 MiB of memory outside V8's heap; allocating and dropping one per chunk
// made V8 run a full mark-compact every ~50 ms under load (17 per million
// lines of tail → null), for a heap of 14 MiB.
export class BufferPool {
  readonly size: number;
  private readonly max: number;
  private readonly free: ArrayBuffer[] = [];
  constructor(size: number, max: number) {
    this.size = size;
    this.max = max;
  }

  /** A buffer of `capacity` bytes (contents undefined): a pooled one when it is the pool's size. */
  take(capacity: number): Buffer {
    const ab = capacity === this.size ? this.free.pop() : undefined;
    return ab ? Buffer.from(ab) : Buffer.allocUnsafeSlow(capacity);
  }

  /**
   * Takes back a buffer nothing uses any more (its chunk was released, or put
   * down to disk); the caller drops its own reference. Buffers of other sizes,
   * or beyond what the pool keeps, are left to the garbage collector.
   */
  give(data: Uint8Array | undefined): void {
    if (data && data.buffer.byteLength === this.size && this.free.length < this.max) this.free.push(data.buffer as ArrayBuffer);
  }
}
