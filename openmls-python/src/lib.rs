use pyo3::prelude::*;

#[pymodule]
fn _openmls(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("OPENMLS_VERSION", "0.8.1")?; // pinned release
    Ok(())
}
