package sluice

import "syscall"

// stdoutToStderr points file descriptor 1 at stderr. (Dup3: linux/arm64 has
// no dup2.)
func stdoutToStderr() error { return syscall.Dup3(2, 1, 0) }
