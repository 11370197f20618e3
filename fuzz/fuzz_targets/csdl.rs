//! Any UTF-8 document as a service's `$metadata`: the CSDL reader must not panic, and a model it
//! accepts must print (as OData v4) into a document it reads back to the same model.
#![no_main]

use epicor_kinetic_odata::csdl::{Metadata, ODataVersion};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(model) = Metadata::from_xml(xml) {
        let printed = model.to_xml(ODataVersion::V4);
        let again = Metadata::from_xml(&printed)
            .unwrap_or_else(|e| panic!("{xml:?}: our own printout is refused: {e}"));
        assert_eq!(again, model, "{xml:?} -> {printed:?}");
    }
});
