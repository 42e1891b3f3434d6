//go:build !linux

package sluice

import "syscall"

// stdoutToStderr points file descriptor 1 at stderr.
func stdoutToStderr() error { return syscall.Dup2(2, 1) }
