package sluice

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// go-plugin's plugin.GRPCController service, with its one method Shutdown.
//
// Written by hand instead of generated: generated code would register the
// proto type plugin.Empty, which go-plugin registers too, and a binary that
// links both panics at start. plugin.Empty has no fields, so
// google.protobuf.Empty has the same wire bytes (none).
type controllerServer interface {
	Shutdown(context.Context, *emptypb.Empty) (*emptypb.Empty, error)
}

var controllerServiceDesc = grpc.ServiceDesc{
	ServiceName: "plugin.GRPCController",
	HandlerType: (*controllerServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Shutdown",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			if interceptor == nil {
				return srv.(controllerServer).Shutdown(ctx, in)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/plugin.GRPCController/Shutdown"}
			handler := func(ctx context.Context, req any) (any, error) {
				return srv.(controllerServer).Shutdown(ctx, req.(*emptypb.Empty))
			}
			return interceptor(ctx, in, info, handler)
		},
	}},
	Streams:  []grpc.StreamDesc{},
	Metadata: "plugin/grpc_controller.proto",
}
