module trinity-core/bindings/go

go 1.24
