module trinity-core/examples/go

go 1.24

require example.invalid/trinity-core/bindings/go v0.0.0

replace example.invalid/trinity-core/bindings/go => ../../bindings/go
