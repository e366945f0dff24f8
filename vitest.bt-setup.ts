// The "bt" test project runs the whole suite with the binary translator as the default engine of
// every board and test hart (and, through MATRYOSHKA_ENGINE, of the CLI): the same tests, the same
// expected results, on the other engine.
import { setDefaultEngine } from "@matryoshka/cpu";
import { createEngine } from "@matryoshka/engines";

setDefaultEngine(() => createEngine("bt"));
