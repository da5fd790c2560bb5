// glupy's negative.py in JavaScript: a negative-lookup cache. If a name was not there the last
// time we looked, it is probably still not there, so a repeated lookup is answered ENOENT without
// asking the child.
//
// Kept as the original on purpose (it is the teaching example; performance/nl-cache is the real
// one):
// - the cache is module-global, so every instance in the process shares it (the runtime loads the
//   module once), and it never expires, so another client's create is never seen;
// - only create invalidates it: a mkdir, mknod, symlink, link or rename of a cached name leaves a
//   stale ENOENT;
// - only ENOENT is cached (EACCES and other errors are not).
// One change: a nameless (gfid-only) or root lookup has no name to cache and bypasses the cache.
import { Translator, errno } from 'switchyard/storage';

/** Parent gfid (UUID text) → names known not to exist there. */
export const cache = new Map();

export default class Negative extends Translator {
  lookupFop(frame, loc, xdata) {
    if (loc.name === '') return this.windLookup(frame, loc, xdata);
    const pargfid = String(loc.pargfid);
    if (cache.get(pargfid)?.has(loc.name)) {
      return this.unwindLookup(frame, -1, errno.ENOENT, null, null, null, null);
    }
    // frame.local replaces the original's self.requests[get_id(frame)].
    frame.local = { pargfid, name: loc.name };
    this.windLookup(frame, loc, xdata);
  }

  lookupCbk(frame, cookie, opRet, opErrno, inode, buf, xdata, postparent) {
    const req = frame.local;
    if (req && opRet === 0) {
      cache.get(req.pargfid)?.delete(req.name);
    } else if (req && opErrno === errno.ENOENT) {
      if (!cache.has(req.pargfid)) cache.set(req.pargfid, new Set());
      cache.get(req.pargfid).add(req.name);
    }
    this.unwindLookup(frame, opRet, opErrno, inode, buf, xdata, postparent);
  }

  createFop(frame, loc, flags, mode, umask, fd, xdata) {
    frame.local = { pargfid: String(loc.pargfid), name: loc.name };
    this.windCreate(frame, loc, flags, mode, umask, fd, xdata);
  }

  createCbk(frame, cookie, opRet, opErrno, fd, inode, buf, preparent, postparent, xdata) {
    const req = frame.local;
    if (opRet === 0) cache.get(req.pargfid)?.delete(req.name);
    this.unwindCreate(frame, opRet, opErrno, fd, inode, buf, preparent, postparent, xdata);
  }
}
