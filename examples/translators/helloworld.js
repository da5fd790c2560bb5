// glupy's helloworld in JavaScript: greets every lookup and its reply, and changes nothing.
import { Translator } from 'switchyard/storage';

/** Prints "JS xlator: Hello!" for each lookup, "JS xlator: Hello again!" for each reply. */
export default class HelloWorld extends Translator {
  lookupFop(frame, loc, xdata) {
    console.log('JS xlator: Hello!');
    this.windLookup(frame, loc, xdata);
  }

  lookupCbk(frame, cookie, opRet, opErrno, inode, buf, xdata, postparent) {
    console.log('JS xlator: Hello again!');
    this.unwindLookup(frame, opRet, opErrno, inode, buf, xdata, postparent);
  }
}
