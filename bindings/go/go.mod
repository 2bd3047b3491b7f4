module example.invalid/trinity-core/bindings/go

go 1.24
