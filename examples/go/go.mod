module trinity-core/examples/go

go 1.24

require trinity-core/bindings/go v0.0.0

replace trinity-core/bindings/go => ../../bindings/go
