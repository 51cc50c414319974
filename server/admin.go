package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

// backupChunkBytes is the size of a Backup chunk: large enough that the
// per-message cost is small against the bytes, well under the 4 MiB that
// default gRPC clients accept.
const backupChunkBytes = 1 << 20

// Backup implements AdminService.Backup: the store copies itself from one
// read transaction into the stream, and the copy is recorded in the audit
// log, finished or not.
func (s *Server) Backup(_ *pb.BackupRequest, stream pb.AdminService_BackupServer) error {
	b, ok := s.st.(store.Backuper)
	if !ok {
		return status.Error(codes.Unimplemented, "this store cannot be copied through the API: back it up with the backend's own tools")
	}
	ctx := stream.Context()
	w := &chunkWriter{stream: stream, sum: sha256.New(), buf: make([]byte, 0, backupChunkBytes)}
	rev, n, err := b.Backup(ctx, w)
	if err == nil {
		err = w.flush()
	}
	detail := fmt.Sprintf("revision %d, %d bytes", rev, n)
	if err != nil {
		detail = fmt.Sprintf("stopped after %d bytes: %v", w.sent, err)
	}
	rec := store.AuditRecord{Action: store.AuditBackup, Actor: clipAudit(actor(ctx)), Peer: clipAudit(peerHost(ctx)),
		Method: pb.AdminService_Backup_FullMethodName, Detail: clipAudit(detail)}
	if _, aerr := s.st.Commit(context.WithoutCancel(ctx), actor(ctx), store.RecordAudit(rec)); aerr != nil {
		s.log.Error("a backup was not recorded in the audit log", "error", aerr.Error(), "detail", detail)
	}
	s.log.Info("backup", "actor", actor(ctx), "detail", detail)
	if err != nil {
		return err
	}
	return stream.Send(&pb.BackupResponse{Part: &pb.BackupResponse_Summary{Summary: &pb.BackupSummary{
		SizeBytes: n, Sha256: hex.EncodeToString(w.sum.Sum(nil)), Revision: int64(rev)}}})
}

// chunkWriter sends what is written to it as Backup chunks of
// backupChunkBytes, hashing it on the way.
type chunkWriter struct {
	stream pb.AdminService_BackupServer
	sum    hash.Hash
	buf    []byte
	sent   int64
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), cap(w.buf)-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush sends the buffered bytes, if any.
func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	w.sum.Write(w.buf)
	if err := w.stream.Send(&pb.BackupResponse{Part: &pb.BackupResponse_Chunk{Chunk: w.buf}}); err != nil {
		return err
	}
	w.sent += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}
