package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"

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
// read transaction into a temporary file (in Options.Media.TempDir), which
// is then streamed; the copy is recorded in the audit log, finished or not.
//
// The file keeps the read transaction as short as a local copy: bbolt
// cannot remap its file while one is open, and a commit waiting to remap
// holds back every read after it, so a slow client must not hold one.
func (s *Server) Backup(_ *pb.BackupRequest, stream pb.AdminService_BackupServer) error {
	b, ok := s.st.(store.Backuper)
	if !ok {
		return status.Error(codes.Unimplemented, "this store cannot be copied through the API: back it up with the backend's own tools")
	}
	ctx := stream.Context()
	w := newChunkWriter(stream)
	rev, n, err := s.spoolBackup(ctx, b, w)
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

// spoolBackup copies the store into a temporary file, then sends the file
// through w.
func (s *Server) spoolBackup(ctx context.Context, b store.Backuper, w *chunkWriter) (store.Revision, int64, error) {
	f, err := os.CreateTemp(s.opts.Media.TempDir, "mediamatch-backup-*")
	if err != nil {
		return 0, 0, fmt.Errorf("backing up: a temporary file for the copy: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	rev, n, err := b.Backup(ctx, f)
	if err != nil {
		return 0, n, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, n, fmt.Errorf("backing up: %w", err)
	}
	sent, err := io.Copy(w, f)
	if err == nil {
		err = w.flush()
	}
	if err == nil && sent != n {
		err = fmt.Errorf("backing up: the copy holds %d bytes, the store wrote %d", sent, n)
	}
	return rev, n, err
}

// chunkWriter sends what is written to it as Backup chunks of
// backupChunkBytes, hashing it on the way.
type chunkWriter struct {
	*chunkSender
	sum  hash.Hash
	sent int64
}

func newChunkWriter(stream pb.AdminService_BackupServer) *chunkWriter {
	w := &chunkWriter{sum: sha256.New()}
	w.chunkSender = newChunkSender(backupChunkBytes, func(p []byte) error {
		w.sum.Write(p)
		if err := stream.Send(&pb.BackupResponse{Part: &pb.BackupResponse_Chunk{Chunk: p}}); err != nil {
			return err
		}
		w.sent += int64(len(p))
		return nil
	})
	return w
}
