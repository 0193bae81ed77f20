-- Which pool of its function a call runs in (class method, parameters, option overrides), as
-- JSON; NULL for a plain call.
ALTER TABLE calls ADD COLUMN variant TEXT;
-- Autoscaler settings changed after deploy (until the next deploy), as a JSON object of options.
ALTER TABLE functions ADD COLUMN autoscaler TEXT;
