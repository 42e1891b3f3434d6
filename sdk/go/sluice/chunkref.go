package sluice

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"syscall"

	pb "sluice.dev/sdk/go/pluginv1"
)

// ChunkRefCapability is declared in Describe by every plugin of this SDK:
// the host may then send a chunk as a reference to a file on this machine
// instead of its bytes (docs/protocol.md, "Chunks by reference").
const ChunkRefCapability = "chunk_ref"

// readRef reads the events a FlushRequest refers to: one positioned read,
// checked against the reference's CRC-32. Chunk.Data is a field, so the
// bytes are read before Flush is called, not on first use as in the
// TypeScript SDK. The error names the path and the errno; the answer is
// then RETRY with ref_unreadable, and the host sends the bytes instead.
func readRef(ref *pb.ChunkRef) ([]byte, error) {
	fail := func(why string) error {
		return fmt.Errorf("cannot read the chunk reference %s (%s)", ref.Path, why)
	}
	f, err := os.Open(ref.Path)
	if err != nil {
		return nil, fail(errnoText(err))
	}
	defer f.Close()
	buf := make([]byte, ref.Length)
	n, err := f.ReadAt(buf, int64(ref.Offset))
	if n < len(buf) {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, fail(fmt.Sprintf("short read: %d of %d bytes at offset %d", n, len(buf), ref.Offset))
		}
		return nil, fail(errnoText(err))
	}
	// 0: not given (a file the host just wrote into its private directory).
	if sum := crc32.ChecksumIEEE(buf); ref.Crc32 != 0 && sum != ref.Crc32 {
		return nil, fail(fmt.Sprintf("CRC-32 mismatch: the reference says %x, the bytes have %x", ref.Crc32, sum))
	}
	return buf, nil
}

var errnoNames = map[syscall.Errno]string{syscall.ENOENT: "ENOENT", syscall.EACCES: "EACCES", syscall.EPERM: "EPERM", syscall.EIO: "EIO", syscall.EISDIR: "EISDIR", syscall.ENOTDIR: "ENOTDIR"}

// errnoText is "ENOENT: open /x: no such file or directory", as Node says it.
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		name, ok := errnoNames[errno]
		if !ok {
			name = fmt.Sprintf("errno %d", int(errno))
		}
		return name + ": " + err.Error()
	}
	return err.Error()
}
