local function a_fn() end
