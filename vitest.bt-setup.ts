// The "bt" test project runs the whole suite with the binary translator as the default engine of
// every board and test hart (and, through MATRYOSHKA_ENGINE, of the CLI): the same tests, the same
// expected results, on the other engine.
import { Translator } from "@matryoshka/bt";
import { setDefaultEngine } from "@matryoshka/cpu";

setDefaultEngine(() => new Translator());
